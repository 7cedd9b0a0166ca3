"""The document as a TypeScript user meets it, with the real tools (Node, from npm):

- `redocly lint` (the recommended ruleset) finds no error and no warning in /openapi.json;
- `openapi-typescript --default-non-nullable false` generates its types;
- `tsc --strict` compiles tests/openapi/typescript/client.ts (openapi-fetch calls, no casts);
- node runs the compiled client against a live server, every step checked.

The tools are pinned by tests/openapi/typescript/package-lock.json and installed with `npm ci`
(the npm registry's packages, cached by npm). Skipped, saying so, where Node is not installed.
"""

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Server, uvicorn_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),  # npm ci, generation and tsc take minutes on a loaded machine
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="Node.js and npm are not installed (Debian: apt-get install nodejs npm)",
    ),
]

PROJECT = Path(__file__).parent / "typescript"
TOOL_TIMEOUT = 300


def run(command: list[str], cwd: Path, **env: str) -> str:
    """Run a tool; its standard output (it must succeed)."""
    result = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home()), **env},
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def toolchain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("typescript")
    for name in ("package.json", "package-lock.json", "tsconfig.json", "client.ts"):
        shutil.copy(PROJECT / name, workdir / name)
    run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"], workdir)
    return workdir


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with uvicorn_server(database_url, tmp_path_factory.mktemp("uvicorn")) as running:
        yield running


@pytest.fixture(scope="module")
def document(server: Server, toolchain: Path) -> Path:
    path = toolchain / "openapi.json"
    path.write_bytes(httpx.get(f"{server.base_url}/openapi.json", timeout=30).content)
    return path


def test_redocly_recommended_lint_finds_nothing(document: Path, toolchain: Path) -> None:
    report = run(
        ["npx", "redocly", "lint", document.name, "--format=json"],
        toolchain,
        REDOCLY_TELEMETRY="off",
        REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
    )
    found = json.loads(report)
    totals = found["totals"]
    assert (totals["errors"], totals["warnings"]) == (0, 0), found["problems"]


def test_a_generated_client_compiles_strictly_and_drives_the_server(
    document: Path, toolchain: Path, server: Server
) -> None:
    run(
        [
            "npx",
            "openapi-typescript",
            document.name,
            "--default-non-nullable",
            "false",
            "--output",
            "schema.d.ts",
        ],
        toolchain,
    )
    run(["npx", "tsc", "-p", "tsconfig.json"], toolchain)  # --strict, from tsconfig.json

    output = run(["node", "dist/client.js"], toolchain, EB_BASE_URL=server.base_url)

    passed = [line for line in output.splitlines() if line.startswith("ok: ")]
    checks = (PROJECT / "client.ts").read_text().count("\ncheck(")
    assert len(passed) == checks >= 13, output
