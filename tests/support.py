"""Test helpers: a controllable clock, throwaway databases, and a real uvicorn server."""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE = os.environ.get("EB_TEST_DATABASE", "sqlite")
"""Which database the suite runs on: `sqlite` (default) or `postgresql`."""
POSTGRES_ADMIN_URL = os.environ.get(
    "EB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
"""A server on which the suite may create and drop its own databases."""


@dataclass
class ManualClock:
    """The app's clock in tests: it only moves when told to, so equal timestamps are the norm."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextmanager
def throwaway_database(kind: str, directory: Path) -> Iterator[str]:
    """A new, empty database of `kind`, dropped afterwards; yields its URL."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'eb-{uuid.uuid4().hex[:8]}.db'}"
        return
    if kind != "postgresql":
        raise ValueError(f"unknown test database {kind!r}")
    name = f"eb_test_{uuid.uuid4().hex[:12]}"
    admin = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def uvicorn_server(
    database_url: str,
    log_dir: Path,
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    app_factory: str = "app.main:create_app",
    via_cli: bool = False,
) -> Iterator[Server]:
    """A real `uvicorn` process serving the app on a free port, stopped afterwards.

    `app_factory` names another factory (`module:function`) for a test that needs, say, its own
    clock in the server process. `via_cli` starts it as production does, with
    `entropy-budget serve` (its logging configuration, its metrics directory)."""
    port = free_port()
    log_path = log_dir / f"uvicorn-{port}.log"
    env = {**os.environ, "DATABASE_URL": database_url, **(extra_env or {})}
    address = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if via_cli:
        command = [sys.executable, "-c", "from app.cli import main; main()", "serve", *address]
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            app_factory,
            "--factory",
            *address,
            "--log-level",
            "warning",
        ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited early:\n{server.log_path.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not become healthy:\n{server.log_path.read_text()}")
