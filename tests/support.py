"""Test helpers: a controllable clock, throwaway databases, and a real uvicorn server."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

from app.budget import rules
from app.core.orm import Base
from app.models import ExplorationBudget

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONSOLE_SCRIPT = Path(sys.executable).parent / "entropy-budget"
"""The suite's own `entropy-budget`, for tests that run the command as a user does."""
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

    def crash(self) -> None:
        """SIGKILL the server and all its workers at once (its own process group): no
        shutdown handler, no flush, no goodbye, as in a power cut of the process."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


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
            start_new_session=True,  # its own process group, so crash() reaches the workers
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
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


def empty_tables(engine: Engine) -> None:
    """Delete every row of every table (children first). DELETE, not TRUNCATE: on tables this
    small it is ~100x cheaper, and nothing depends on the insertion sequences restarting."""
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f"DELETE FROM {table.name}"))


SEED_POLICY = rules.AdjustmentPolicy()


T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float = 15.0, what: str = "") -> T:
    """The first truthy value `check` returns, polled until `timeout`; `what` names the
    awaited state in the failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what or 'the condition'} not reached within {timeout} s (last: {value!r})"
            )
        time.sleep(0.02)


def lock_waits(engine: Engine) -> int:
    """Sessions of this PostgreSQL database waiting for a lock."""
    with engine.connect() as connection:
        waiting: int = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return waiting


def check_budget_chain(
    engine: Engine,
    job_hash: str,
    policy: rules.AdjustmentPolicy = SEED_POLICY,
    response_boost: float = rules.DEFAULT_BOOST_AMOUNT,
    response_threshold: float = rules.DEFAULT_ENTROPY_THRESHOLD,
) -> list[ExplorationBudget]:
    """The job's budget records in chain order, after checking that the chain is unbroken
    (job_seq 1..n, times never going back) and that every record follows from the one
    before it by the seed's rules (readings' adjustments, and responses' boosts)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(ExplorationBudget)
            .where(ExplorationBudget.job_hash == job_hash)
            .order_by(ExplorationBudget.job_seq)
        ).all()
    chain = [ExplorationBudget(**row._mapping) for row in rows]
    assert [record.job_seq for record in chain] == list(range(1, len(chain) + 1))
    previous: ExplorationBudget | None = None
    for record in chain:
        current = None if previous is None else previous.budget_value
        assert record.entropy_at_time is not None
        if (record.adjustment_reason or "").startswith("Entropy response"):
            decision = rules.boost_for_response(
                current,
                response_boost,
                record.entropy_at_time,
                response_threshold,
                policy.bounds,
            )
        else:
            decision = rules.adjust_for_entropy(current, record.entropy_at_time, policy)
        assert (record.budget_value, record.adjustment_type, record.adjustment_reason) == (
            decision.budget_value,
            decision.adjustment_type,
            decision.adjustment_reason,
        ), f"{job_hash}#{record.job_seq} does not follow from its predecessor"
        assert previous is None or record.recorded_at >= previous.recorded_at
        previous = record
    return chain


POSTGRES_BIN = Path(os.environ.get("EB_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass
class PostgresCluster:
    """A private PostgreSQL cluster that a test may stop and start at will."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *arguments: str) -> None:
        _as_postgres(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data_dir), "-w", *arguments)

    def start(self) -> None:
        socket_dir = self.data_dir.parent / "sockets"
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {socket_dir} -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.data_dir.parent / "postgres.log"), "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")


def _as_postgres(*command: str) -> None:
    """PostgreSQL refuses to run as root; its binaries run as the `postgres` user."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True)


@contextmanager
def throwaway_postgres_cluster() -> Iterator[PostgresCluster]:
    """initdb a new cluster in a new directory, start it on a free port, remove it after.

    The directory is its own (pytest's tmp_path sits under a root-only directory, which the
    `postgres` user could not enter)."""
    directory = Path(tempfile.mkdtemp(prefix="eb-postgres-"))
    (directory / "sockets").mkdir()
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
        shutil.chown(directory / "sockets", "postgres")
    cluster = PostgresCluster(directory / "data", free_port())
    _as_postgres(
        str(POSTGRES_BIN / "initdb"),
        "-D",
        str(cluster.data_dir),
        "-U",
        "postgres",
        "--auth=trust",
        "--no-sync",
    )
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
