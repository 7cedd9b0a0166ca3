"""One real uvicorn server per test module; the CLI reaches it over the network.

The server is module-scoped, but every test that uses it depends on `database_url`, so the
autouse fixture of tests/conftest.py empties the tables before each test: tests seed their own
data (through the API, with unique job hashes) and never rely on another test's.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import Result

from tests.cli.helpers import Invoke, invoke_cli
from tests.support import Server, uvicorn_server


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Module-scoped here (the root one is per test): the server outlives a single test."""
    return tmp_path_factory.mktemp("uvicorn")


@pytest.fixture(scope="module")
def server(database_url: str, log_dir: Path) -> Iterator[Server]:
    with uvicorn_server(database_url, log_dir) as running:
        yield running


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    """Plain HTTP to the same server: seeds data and gives the answers the CLI must match."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def job() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def run(server: Server) -> Invoke:
    """`run("budget", "show", ...)`: the CLI with --url pointing at the live server."""

    def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
        return invoke_cli("--url", server.base_url, *args, env=env)

    return invoke
