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

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import create_engine, func, select

from app.core.db import database_url
from app.models import EntropyResponse, WebhookDelivery, WebhookMessage
from benchmarks.harness import (
    READINGS_SCRIPT,
    ReadingsLoad,
    WrkResult,
    add_readings_load_arguments,
    arguments_parser,
    database,
    medians,
    service,
    write_report,
)

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


def run(kind: str, load: ReadingsLoad) -> dict[str, object]:
    results: dict[str, list[WrkResult]] = {"without endpoint": [], "dead endpoint": []}
    with blackhole() as dead_url, database(kind) as plain_db, database(kind) as subscribed_db:
        with (
            service(9111, plain_db, workers=load.workers, env=ENV) as plain,
            service(9112, subscribed_db, workers=load.workers, env=ENV) as subscribed,
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
            targets = {
                "without endpoint": (plain.url, READINGS_SCRIPT),
                "dead endpoint": (subscribed.url, READINGS_SCRIPT),
            }
            for round_number, name, result in load.alternating(targets):
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

    report = {
        name: {
            **medians(runs),
            "rps_each_round": [round(r.requests_per_second) for r in runs],
        }
        for name, runs in results.items()
    }
    return {
        **load.described(kind),
        **report,
        "ratio": report["dead endpoint"]["rps"] / report["without endpoint"]["rps"],
        "dead_endpoint_backlog_at_end": backlog,
        "outbox": {"without endpoint": plain_counts, "dead endpoint": subscribed_counts},
    }


def main() -> None:
    parser = arguments_parser(__doc__, seconds=10, rounds=4)
    add_readings_load_arguments(parser, workers_help="uvicorn workers per service")
    arguments = parser.parse_args()
    report = run(arguments.db, ReadingsLoad.of(arguments))
    write_report(f"webhooks-dead-endpoint-{arguments.db}", report)


if __name__ == "__main__":
    main()
