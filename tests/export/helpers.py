"""Helpers of the export tests and of benchmarks/export_memory.py: bulk rows written straight to
the table, a sampler of a process's resident memory, an app served by uvicorn in a thread of
the test process (so a test can look at its connection pool), and the expected text of a cell."""

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, insert

from app.models import ExplorationBudget
from tests.support import free_port

ADJUSTMENT_TYPES = ("initial", "decay", "boost", "floor_enforced", "ceiling_enforced", "manual")
START = datetime(2026, 1, 1, tzinfo=UTC)


def budget_rows(
    count: int, *, reason_length: int = 120, jobs: int = 50
) -> Iterator[dict[str, Any]]:
    """`count` budget records, oldest first, three per timestamp (ties on purpose), spread over
    `jobs` jobs, with reasons padded to `reason_length` characters (some null)."""
    rng = random.Random(20261127)
    for n in range(count):
        job = n % jobs
        reason = None
        if n % 7:
            head = f"Entropy {rng.random():.3f} >= threshold, decaying; record {n}, "
            reason = (head + "x" * reason_length)[:reason_length]
        yield {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "job_hash": f"job-{job:03d}",
            "job_seq": n // jobs + 1,
            "recorded_at": START + timedelta(microseconds=17 * (n // 3)),
            "budget_value": 0.05 + 0.45 * rng.random(),
            "entropy_at_time": None if n % 11 == 0 else rng.random(),
            "adjustment_type": ADJUSTMENT_TYPES[n % len(ADJUSTMENT_TYPES)],
            "adjustment_reason": reason,
        }


def insert_budget_rows(engine: Engine, count: int, *, batch: int = 10_000, **options: Any) -> None:
    """Write `count` budget records with executemany, `batch` rows per statement."""
    rows = budget_rows(count, **options)
    statement = insert(ExplorationBudget.__table__)  # type: ignore[arg-type]
    with engine.begin() as connection:
        while chunk := [row for _, row in zip(range(batch), rows, strict=False)]:
            connection.execute(statement, chunk)


def rss_bytes(pid: int, field_name: str = "VmRSS") -> int:
    """A process's resident set size (or `VmHWM`, its peak) from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field_name} for process {pid}")


@dataclass
class RssSampler:
    """Samples a process's RSS every `interval` seconds in a thread, while in its block."""

    pid: int
    interval: float = 0.02
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "RssSampler":
        self.samples.append(rss_bytes(self.pid))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(rss_bytes(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(rss_bytes(self.pid))

    @property
    def peak(self) -> int:
        return max(self.samples)


@dataclass
class ThreadServer:
    base_url: str
    server: uvicorn.Server


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[ThreadServer]:
    """`app` served by a real uvicorn (httptools, real sockets) in a thread of this process."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield ThreadServer(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def json_tokens(text: str) -> Any:
    """A JSON document with its numbers kept as their text (`"1e-7"` stays `"1e-7"`)."""
    return json.loads(text, parse_float=str, parse_int=str)


def expected_cell(token: Any) -> str:
    """The CSV cell of a value of `json_tokens`: strings and numbers as their text, null
    empty, booleans and lists as their JSON."""
    if isinstance(token, str):
        return token
    if token is None:
        return ""
    return json.dumps(token, separators=(",", ":"), ensure_ascii=False)
