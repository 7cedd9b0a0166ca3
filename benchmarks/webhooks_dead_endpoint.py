"""Readings throughput with and without a dead webhook endpoint subscribed, measured
alternately in one run: the target is a ratio >= 0.9.

    .venv/bin/python -m benchmarks.webhooks_dead_endpoint --db sqlite
    .venv/bin/python -m benchmarks.webhooks_dead_endpoint --db postgresql

Two services, each on its own new database and configured alike (`entropy-budget serve`, 2
workers unless --workers says otherwise, the default webhook settings), take wrk's readings
(benchmarks/readings.lua, 64 connections) in turn. Every job's response cooldown is 0, so
every reading below 0.3 runs a response and writes an event: about a third of the readings,
the heaviest outbox load a readings stream can make. On one service an endpoint subscribed
to every event points at a blackhole, a listener on 127.0.0.1 that accepts connections and
never answers: each of its messages is fanned out, claimed, and hangs until the 15 s
deadline, then waits for its retry. The other has no endpoint: its dispatchers only mark the
messages fanned out. Afterwards, every response of both has its event in the outbox.
"""

import argparse
import json
import socket
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import create_engine, func, select

from app.core.db import database_url
from app.models import EntropyResponse, WebhookDelivery, WebhookMessage
from benchmarks.harness import ROOT, WrkResult, database, machine, service, wrk

SCRIPT = ROOT / "benchmarks" / "readings.lua"
ENV = {
    "POLICY_RESPONSE_COOLDOWN_SECONDS": "0",
    # The blackhole is on 127.0.0.1: without this the attempts would be refused before
    # connecting, which is cheaper than hanging.
    "WEBHOOKS_ALLOW_PRIVATE": "true",
}


@contextmanager
def blackhole() -> Iterator[str]:
    """A URL whose server accepts every connection and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks"
    finally:
        stopping.set()
        listener.close()
        for connection in held:
            connection.close()


def gauge(url: str, name: str) -> float:
    prefix = f"entropy_budget_{name} "
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    raise AssertionError(f"no {name} in /metrics")


def outbox_counts(url: str) -> dict[str, int]:
    engine = create_engine(database_url(url))
    with engine.connect() as connection:
        counts = {
            "responses": connection.scalar(select(func.count()).select_from(EntropyResponse)),
            "events": connection.scalar(select(func.count()).select_from(WebhookMessage)),
            "deliveries": connection.scalar(select(func.count()).select_from(WebhookDelivery)),
        }
    engine.dispose()
    return {name: int(count or 0) for name, count in counts.items()}


def run(
    kind: str, *, seconds: int, rounds: int, connections: int, jobs: int, workers: int
) -> dict[str, object]:
    results: dict[str, list[WrkResult]] = {"without endpoint": [], "dead endpoint": []}
    load = {"JOBS": str(jobs)}
    with blackhole() as dead_url, database(kind) as plain_db, database(kind) as subscribed_db:
        with (
            service(9111, plain_db, workers=workers, env=ENV) as plain,
            service(9112, subscribed_db, workers=workers, env=ENV) as subscribed,
        ):
            created = httpx.post(
                subscribed.url + "/v1/webhooks",
                json={
                    "url": dead_url,
                    "events": ["entropy_response.triggered", "pattern.status_changed"],
                },
                timeout=10,
            )
            assert created.status_code == 201, created.text
            targets = {"without endpoint": plain.url, "dead endpoint": subscribed.url}
            for round_number in range(rounds + 1):  # round 0 warms up and is not reported
                order = list(targets) if round_number % 2 else list(targets)[::-1]
                for name in order:
                    result = wrk(
                        targets[name],
                        seconds=2 if round_number == 0 else seconds,
                        connections=connections,
                        script=SCRIPT,
                        env=load,
                    )
                    assert result.non_2xx == 0, result
                    if round_number:
                        results[name].append(result)
            backlog = {
                "queue_depth": gauge(subscribed.url, "webhook_queue_depth"),
                "oldest_pending_seconds": gauge(subscribed.url, "webhook_oldest_pending_seconds"),
            }
        # Servers stopped: the outbox is complete on both.
        plain_counts, subscribed_counts = outbox_counts(plain_db), outbox_counts(subscribed_db)
    assert plain_counts["events"] == plain_counts["responses"] > 0, plain_counts
    assert plain_counts["deliveries"] == 0, plain_counts
    assert subscribed_counts["events"] == subscribed_counts["responses"] > 0, subscribed_counts

    def summary(name: str) -> dict[str, float]:
        runs = results[name]
        return {
            "rps": statistics.median(r.requests_per_second for r in runs),
            "rps_each_round": [round(r.requests_per_second) for r in runs],  # type: ignore[dict-item]
            "p50_ms": statistics.median(r.p50_ms for r in runs),
            "p99_ms": statistics.median(r.p99_ms for r in runs),
        }

    report = {name: summary(name) for name in results}
    return {
        "database": kind,
        "machine": machine(),
        "connections": connections,
        "workers": workers,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "jobs": jobs,
        **report,
        "ratio": report["dead endpoint"]["rps"] / report["without endpoint"]["rps"],
        "dead_endpoint_backlog_at_end": backlog,
        "outbox": {"without endpoint": plain_counts, "dead endpoint": subscribed_counts},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per service")
    arguments = parser.parse_args()
    report = run(
        arguments.db,
        seconds=arguments.seconds,
        rounds=arguments.rounds,
        connections=arguments.connections,
        jobs=arguments.jobs,
        workers=arguments.workers,
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"webhooks-dead-endpoint-{arguments.db}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
