"""`make run` on another address: refused with no key, served when told to run open, as the
README's and docs/operations.md's hint says."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import PROJECT_ROOT, free_port

pytestmark = pytest.mark.e2e

VENV = Path(sys.executable).parent.parent
HINT_OPEN = "HOST=0.0.0.0 ENTROPY_BUDGET_ALLOW_OPEN=true make run"


def make_run(tmp_path: Path, port: int, **variables: str) -> subprocess.Popen[str]:
    """`make run` with this venv (never reinstalled here) and a database of its own."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ENTROPY_BUDGET_", "API_"))},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'make-run.db'}",
        "PORT": str(port),
        **variables,
    }
    return subprocess.Popen(
        ["make", "--no-print-directory", "-o", f"{VENV}/.runtime-installed", "run",
         f"VENV={VENV}"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make, its shell and the server: one group to stop
    )  # fmt: skip


def test_the_hints_are_in_the_docs() -> None:
    for document in ("README.md", "docs/operations.md", "docs/cli.md"):
        assert HINT_OPEN in (PROJECT_ROOT / document).read_text(), document


def test_all_interfaces_without_a_key_is_refused_with_the_way_out(tmp_path: Path) -> None:
    process = make_run(tmp_path, free_port(), HOST="0.0.0.0")
    output, _ = process.communicate(timeout=120)

    assert process.returncode != 0
    assert "refusing to serve on 0.0.0.0: no API key is configured" in output
    assert "ENTROPY_BUDGET_ALLOW_OPEN=true" in output
    assert "API_KEYS" in output


def test_all_interfaces_open_on_purpose_serves(tmp_path: Path) -> None:
    port = free_port()
    process = make_run(tmp_path, port, HOST="0.0.0.0", ENTROPY_BUDGET_ALLOW_OPEN="true")
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "make run did not serve"
            time.sleep(0.3)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "serving on 0.0.0.0 with no API key configured: the service is open" in output
    assert f"{VENV}/bin/entropy-budget --help" in output  # how to call the CLI
    assert f"http://127.0.0.1:{port}/dashboard" in output  # where the dashboard is
