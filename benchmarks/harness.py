"""Shared plumbing for the benchmarks: throwaway databases, real uvicorn servers, wrk runs,
and memory readings from /proc. Run the benchmarks by hand; they are not part of the suite."""

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import httpx
import psycopg
from alembic import command
from sqlalchemy.engine import make_url

from app.cli import alembic_config
from app.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = float(os.environ.get("EB_BENCH_START_SECONDS", "30"))
"""How long a server may take to answer its health check (a loaded machine needs longer)."""
POSTGRES_ADMIN_URL = os.environ.get(
    "EB_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
READINGS_SCRIPT = ROOT / "benchmarks" / "readings.lua"
"""wrk's readings load: POST /v1/entropy over JOBS jobs (JOBS in wrk's environment)."""


@contextmanager
def database(kind: str, *, source: Path | None = None) -> Iterator[str]:
    """A new migrated database (SQLite file or PostgreSQL database), dropped afterwards.
    Migrated by this checkout, or by the checkout at `source` (see `source_at`)."""

    def migrate(url: str) -> None:
        if source is None:
            command.upgrade(alembic_config(Settings(database_url=url)), "head")
        else:
            subprocess.run(
                [sys.executable, "-c", "from app.cli import main; main()", "migrate"],
                cwd=source,
                env={**os.environ, "PYTHONPATH": str(source), "DATABASE_URL": url},
                check=True,
            )

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="eb-bench-") as directory:
            url = f"sqlite:///{directory}/bench.db"
            migrate(url)
            yield url
        return
    name = f"eb_bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def pids(self) -> list[int]:
        children = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [self.process.pid, *(int(pid) for pid in children)]

    def peak_rss_mib(self) -> dict[int, float]:
        """VmHWM (peak resident set) of the master and each worker, in MiB."""
        peaks = {}
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                peaks[pid] = int(match.group(1)) / 1024
        return peaks


@contextmanager
def serve(
    arguments: list[str],
    url: str,
    *,
    health: str,
    workers: int,
    env: dict[str, str] | None,
    log: Path | None,
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """Run a server in its own process group; stop it (all its workers) afterwards."""
    output = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        arguments,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=output,
        stderr=output,
        start_new_session=True,
    )
    server = Server(url, process)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                httpx.get(url + health, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{arguments} did not start") from None
                time.sleep(0.2)
        while len(server.pids()) < workers + 1 and time.monotonic() < deadline:
            time.sleep(0.1)  # every worker up before measuring
        time.sleep(0.5)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        if log:
            output.close()  # type: ignore[union-attr]


def bare_app(port: int, workers: int = 2) -> "contextlib.AbstractContextManager[Server]":
    """The denominator: benchmarks/bare_app.py on uvicorn with uvloop and httptools."""
    arguments = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return serve(
        arguments, f"http://127.0.0.1:{port}", health="/", workers=workers, env=None, log=None
    )


SERVICE_ENV = {"RATE_LIMIT_ENABLED": "false"}
"""wrk is one caller from one address: the per-caller rate limit would measure itself."""


def service(
    port: int,
    database_url: str,
    *,
    workers: int = 2,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    source: Path | None = None,
) -> "contextlib.AbstractContextManager[Server]":
    """The service as operators run it: `entropy-budget serve` (uvloop and httptools, JSON
    logs with the access log, metrics shared by the workers); the code of this checkout, or of
    the checkout at `source` (see `source_at`), with this checkout's virtualenv."""
    launcher = (
        [str(Path(sys.executable).with_name("entropy-budget"))]
        if source is None
        else [sys.executable, "-c", "from app.cli import main; main()"]
    )
    arguments = [
        *launcher,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return serve(
        arguments,
        f"http://127.0.0.1:{port}",
        health="/healthz",
        workers=workers,
        env={
            "DATABASE_URL": database_url,
            **SERVICE_ENV,
            **({} if source is None else {"PYTHONPATH": str(source)}),
            **(env or {}),
        },
        log=log,
        cwd=source or ROOT,
    )


@contextmanager
def source_at(revision: str) -> Iterator[Path]:
    """This repository's files at `revision`, in a temporary directory: the "before" of a
    before/after benchmark, run with this checkout's virtualenv (PYTHONPATH points at it, so
    its `app` package is imported instead of this one's). The lock files must not differ in
    what the service imports."""
    with tempfile.TemporaryDirectory(prefix="eb-bench-src-") as directory:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)
        yield Path(directory)


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    script: Path | None = None,
    threads: int = 2,
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    arguments = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        arguments += ["-H", f"{name}: {value}"]
    if script:
        arguments += ["-s", str(script)]
    output = subprocess.run(
        [*arguments, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout

    def latency(percentile: str) -> float:
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    assert rps, output
    assert total, output
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def machine() -> str:
    cpus = os.cpu_count()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    memory = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    total = f"{int(memory.group(1)) / 1024 / 1024:.0f} GiB" if memory else "?"
    return f"{cpus} cores ({model}), {total} RAM, Python {sys.version.split()[0]}"


def alternating(
    targets: Mapping[str, tuple[str, Path | None]],
    *,
    rounds: int,
    seconds: int,
    connections: int,
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    target_env: Mapping[str, dict[str, str]] | None = None,
) -> Iterator[tuple[int, str, WrkResult]]:
    """wrk against each target (URL, script) in turn, `rounds` + 1 times: side by side in one
    run, so the machine's load falls on every target alike. Round 0 (2 s) warms up and is not
    to be reported; each round starts one target later, so none always runs first. wrk's
    environment is `env`, with a target's own `target_env` on top."""
    names = list(targets)
    for round_number in range(rounds + 1):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            url, script = targets[name]
            result = wrk(
                url,
                seconds=2 if round_number == 0 else seconds,
                connections=connections,
                script=script,
                env={**(env or {}), **(target_env or {}).get(name, {})},
                headers=headers,
            )
            yield round_number, name, result


def medians(runs: list[WrkResult]) -> dict[str, float]:
    """The median throughput and latencies over the reported rounds."""
    return {
        "rps": statistics.median(r.requests_per_second for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
    }


def arguments_parser(
    description: str | None, *, seconds: int, rounds: int | None = None
) -> argparse.ArgumentParser:
    """The options every benchmark takes: --db and --seconds (a run's length), and --rounds
    where it alternates."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=seconds)
    if rounds is not None:
        parser.add_argument("--rounds", type=int, default=rounds)
    return parser


def add_readings_load_arguments(
    parser: argparse.ArgumentParser, *, workers_help: str = "worker processes per server"
) -> None:
    """The options of a benchmark that sends wrk's readings load (`ReadingsLoad`)."""
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help=workers_help)


@dataclass(frozen=True)
class ReadingsLoad:
    """wrk's readings load (`READINGS_SCRIPT`) and how long and often it is measured: what
    `arguments_parser(..., rounds=...)` with `add_readings_load_arguments` asks for."""

    seconds: int
    rounds: int
    connections: int
    jobs: int
    workers: int

    @classmethod
    def of(cls, arguments: argparse.Namespace) -> "ReadingsLoad":
        return cls(**{field.name: getattr(arguments, field.name) for field in fields(cls)})

    def alternating(
        self,
        targets: Mapping[str, tuple[str, Path | None]],
        headers: dict[str, str] | None = None,
    ) -> Iterator[tuple[int, str, WrkResult]]:
        """This load against each target in turn (see `alternating`)."""
        return alternating(
            targets,
            rounds=self.rounds,
            seconds=self.seconds,
            connections=self.connections,
            env={"JOBS": str(self.jobs)},
            headers=headers,
        )

    def described(self, kind: str) -> dict[str, object]:
        """The head of a report: where and how it was measured."""
        return {
            "database": kind,
            "machine": machine(),
            "connections": self.connections,
            "workers": self.workers,
            "seconds_per_run": self.seconds,
            "rounds": self.rounds,
            "jobs": self.jobs,
        }


def write_report(name: str, report: Mapping[str, object]) -> None:
    """Keep the report as benchmarks/results/NAME.json, and print it."""
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: what else the machine was doing at the time."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())
