"""Schemathesis against a real uvicorn server, from its own /openapi.json.

Every operation gets examples, coverage (boundary values, wrong types, missing headers,
unexpected methods and media types), fuzzed inputs, and stateful sequences that follow the
document's links (POST /v1/patterns -> GET/PATCH /v1/patterns/{pattern_id}, a reading -> its
budget record...). With API keys configured, so the authentication the document declares is
checked too (`ignored_auth`: the same request without the key must be refused).

Checks: no 5xx; every status, content type, header and body as documented; invalid input
refused; unsupported methods answered with 405 and a true `Allow`. Not checked:
`positive_data_acceptance`, since some valid-looking input is refused by rules JSON Schema
cannot state (floor <= ceiling, an unreadable cursor, a pattern id that does not exist yet).

The run is bounded (SCHEMATHESIS_EXAMPLES per operation, about 30 s here) and reproducible: the
seed is fixed unless EB_SCHEMATHESIS_SEED names another (`random` for a fresh one).
"""

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.conftest import CONFIGURED_KEYS, WRITE_KEY
from tests.support import uvicorn_server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SCHEMATHESIS_EXAMPLES = 20
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
)
DEFAULT_SEED = 20261127


def _seed() -> int:
    chosen = os.environ.get("EB_SCHEMATHESIS_SEED", "")
    if chosen == "random":
        return random.randrange(2**32)
    return int(chosen) if chosen else DEFAULT_SEED


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_the_live_api_keeps_its_openapi_contract(
    database_url: str, tmp_path: Path, log_dir: Path
) -> None:
    seed = _seed()
    with uvicorn_server(
        database_url, log_dir, extra_env={"API_KEYS": CONFIGURED_KEYS, "LOG_LEVEL": "WARNING"}
    ) as server:
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{server.base_url}/openapi.json",
                "--header",
                f"Authorization: Bearer {WRITE_KEY}",
                "--checks",
                ",".join(CHECKS),
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(SCHEMATHESIS_EXAMPLES),
                # One worker: with two, CI once saw schemathesis crash inside its own coverage
                # generator (its threads share generation caches); one is as fast here (17 s).
                "--workers",
                "1",
                "--seed",
                str(seed),
                "--generation-database",
                "none",
                "--no-color",
                "--request-timeout",
                "30",
            ],
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        server_log = server.log_path.read_text()
    output = result.stdout + result.stderr
    context = (
        f"schemathesis (seed {seed}) said:\n{output[-12000:]}\nserver log:\n{server_log[-3000:]}"
    )
    assert result.returncode == 0, context
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected, context
    assert tested, context
    assert selected.group(1) == selected.group(2) == tested.group(1), context
    assert int(tested.group(1)) >= 30, context
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ {phase}\b", output), f"{phase} did not pass\n{context}"
    assert "Traceback" not in server_log, server_log
