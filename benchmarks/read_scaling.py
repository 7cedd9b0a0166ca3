"""Read latency as the data grows, measured in one run against one server:

- GET /v1/pattern-entropy with 1,000 patterns at 10 thousand, then 1 million applications;
- GET /v1/budget/history (first page, limit 50) of one job at 1 thousand, then 1 million
  budget records.

    .venv/bin/python -m benchmarks.read_scaling --db sqlite
    .venv/bin/python -m benchmarks.read_scaling --db postgresql

Rows are bulk-inserted straight into the tables, with the maintained per-pattern counts, and
the job's head and statistics kept by `benchmarks.loading` as the service keeps them, since
writing a million rows through the API would measure the API's write path instead.
"""

import random
import uuid

import httpx
from sqlalchemy import Engine, create_engine, insert, text

from app.core.db import database_url
from app.core.orm import table_of
from app.models import Pattern, PatternApplication
from benchmarks import loading
from benchmarks.harness import arguments_parser, database, machine, service, write_report, wrk
from benchmarks.loading import CHUNK, START, settle

PATTERNS = 1000
JOB = "history-job"


def add_patterns(engine: Engine) -> None:
    rows = [
        {
            "id": f"pattern-{n:04d}",
            "pattern_type": "bench",
            "pattern_name": f"p{n}",
            "quarantine_status": "pending",
            "first_seen": START,
            "last_seen": START,
            "application_count": 0,
            "success_count": 0,
            "outcome_count": 0,
        }
        for n in range(PATTERNS)
    ]
    with engine.begin() as connection:
        connection.execute(insert(table_of(Pattern)), rows)


def add_applications(engine: Engine, count: int, rng: random.Random) -> None:
    """Skewed application counts (a few patterns dominate), counts kept in step."""
    weights = [1 / (rank + 1) for rank in range(PATTERNS)]
    for start in range(0, count, CHUNK):
        chosen = rng.choices(range(PATTERNS), weights, k=min(CHUNK, count - start))
        rows = [
            {
                "id": str(uuid.uuid4()),
                "pattern_id": f"pattern-{n:04d}",
                "execution_id": "bench",
                "applied_at": START,
                "pattern_led_to_success": True,
                "retry_count_before": 0,
                "retry_count_after": 0,
            }
            for n in chosen
        ]
        with engine.begin() as connection:
            connection.execute(insert(table_of(PatternApplication)), rows)
            tally: dict[int, int] = {}
            for n in chosen:
                tally[n] = tally.get(n, 0) + 1
            connection.execute(
                text(
                    "UPDATE patterns SET application_count = application_count + :k, "
                    "success_count = success_count + :k, outcome_count = outcome_count + :k "
                    "WHERE id = :id"
                ),
                [{"k": k, "id": f"pattern-{n:04d}"} for n, k in tally.items()],
            )


def add_budget_records(engine: Engine, first_seq: int, count: int) -> int:
    """Extend the job's chain by `count` decaying records; returns its new tip's job_seq."""
    records = []
    value = 0.15
    for _ in range(count):
        value = 0.05 if value * 0.95 < 0.05 else value * 0.95
        records.append((value, "decay"))
    return loading.add_budget_records(
        engine,
        JOB,
        records,
        first_seq=first_seq,
        reason="Entropy 0.500 >= threshold, decaying",
    )


def measure(url: str, seconds: int) -> dict[str, float]:
    """One connection to a one-worker server: each request's own latency. With several of each,
    how the kernel happened to spread the connections over the workers (all on one, or evenly)
    doubled or halved the p50 from one measurement to the next, whatever the data."""
    result = wrk(url, seconds=seconds, connections=1, threads=1)
    assert result.non_2xx == 0
    return {"rps": result.requests_per_second, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms}


def measure_all(urls: dict[str, str], seconds: int, *, warm_up: int) -> dict[str, dict[str, float]]:
    for url in urls.values():
        measure(url, warm_up)
    return {name: measure(url, seconds) for name, url in urls.items()}


def check_statistics(base: str, records: int) -> None:
    """The job's statistics count every loaded record: the load kept its aggregates."""
    answer = httpx.get(f"{base}/v1/budget/statistics", params={"job_hash": JOB}).json()
    assert answer["total_adjustments"] == answer["decay_count"] == records, answer


def run(kind: str, seconds: int) -> dict[str, object]:
    rng = random.Random(42)
    report: dict[str, object] = {"database": kind, "machine": machine()}
    with database(kind) as url:
        engine = create_engine(database_url(url))
        add_patterns(engine)
        add_applications(engine, 10_000, rng)
        tip = add_budget_records(engine, 1, 1_000)
        settle(engine)
        with service(9111, url, workers=1) as server:
            urls = {
                "entropy": f"{server.url}/v1/pattern-entropy",
                "history": f"{server.url}/v1/budget/history?job_hash={JOB}&limit=50",
            }
            check_statistics(server.url, 1_000)
            small = measure_all(urls, seconds, warm_up=3)
            add_applications(engine, 990_000, rng)
            add_budget_records(engine, tip + 1, 999_000)
            settle(engine)
            check_statistics(server.url, 1_000_000)
            # For ~10 s after loading a million rows, SQLite reads run ~3x slower whatever they
            # read (measured: 10.6 ms, 10.9 ms, then 3.7 ms per 5 s run), so warm up longer.
            large = measure_all(urls, seconds, warm_up=15)
            report["server_peak_rss_mib"] = server.peak_rss_mib()
        engine.dispose()
    report["pattern_entropy"] = {
        "10k_applications": small["entropy"],
        "1M_applications": large["entropy"],
        "p50_ratio": large["entropy"]["p50_ms"] / small["entropy"]["p50_ms"],
        "throughput_ratio": small["entropy"]["rps"] / large["entropy"]["rps"],
    }
    report["history_page"] = {
        "1k_records": small["history"],
        "1M_records": large["history"],
        "p50_ratio": large["history"]["p50_ms"] / small["history"]["p50_ms"],
        "throughput_ratio": small["history"]["rps"] / large["history"]["rps"],
    }
    return report


def main() -> None:
    parser = arguments_parser(__doc__, seconds=10)
    arguments = parser.parse_args()
    report = run(arguments.db, arguments.seconds)
    write_report(f"read-scaling-{arguments.db}", report)


if __name__ == "__main__":
    main()
