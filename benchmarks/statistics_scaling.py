"""Statistics latency as histories grow, side by side: two databases, two one-worker servers,
measured in alternating rounds in one run.

- small: 10 jobs of 1,000 budget records each;
- large: `job-0` with 1,000,000 records, and 9 more jobs of 100,000 each (1.9M records).

Measured on both: GET /v1/budget/statistics?job_hash=job-0 (one job: 1k vs 1M records) and
GET /v1/budget/statistics (every job: 10 jobs of 1k vs 10 jobs of >= 100k), one connection
each (one request's own latency), p50 per run, the median over the rounds.

    .venv/bin/python -m benchmarks.statistics_scaling --db sqlite
    .venv/bin/python -m benchmarks.statistics_scaling --db postgresql

Records are bulk-inserted straight into the table, and added to the jobs' aggregates by the
service's own merge, chunk by chunk (`benchmarks.loading`): writing millions of records
through the API would measure the write path instead. Before measuring, each answer is checked
against a scan of the loaded values (count, extremes, fsum average).
"""

import math
import random
import statistics
from typing import Any, get_args

import httpx
from sqlalchemy import Engine, create_engine

from app.budget.rules import AdjustmentType
from app.core.db import database_url
from benchmarks.harness import arguments_parser, database, machine, service, write_report, wrk
from benchmarks.loading import add_budget_records, settle

SMALL = {f"job-{n}": 1_000 for n in range(10)}
LARGE = {"job-0": 1_000_000, **{f"job-{n}": 100_000 for n in range(1, 10)}}


class Scan:
    """What the loaded values make of the statistics, kept while loading (the reference)."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def check(self, answer: dict[str, Any], job_hash: str | None) -> None:
        values = [v for job, vs in self.values.items() if job_hash in {None, job} for v in vs]
        assert answer["total_adjustments"] == len(values), answer
        assert answer["min_budget"] == min(values), answer
        assert answer["max_budget"] == max(values), answer
        assert math.isclose(answer["avg_budget"], math.fsum(values) / len(values), rel_tol=1e-12)


def load(engine: Engine, jobs: dict[str, int], rng: random.Random) -> Scan:
    scan = Scan()
    types = get_args(AdjustmentType)
    for job_hash, count in jobs.items():
        records = [(rng.uniform(0.05, 0.5), rng.choice(types)) for _ in range(count)]
        scan.values[job_hash] = [value for value, _ in records]
        add_budget_records(engine, job_hash, records)
    return scan


def p50(url: str, seconds: int) -> float:
    result = wrk(url, seconds=seconds, connections=1, threads=1)
    assert result.non_2xx == 0
    return result.p50_ms


def run(kind: str, seconds: int, rounds: int) -> dict[str, object]:
    rng = random.Random(42)
    paths = {
        "one_job": "/v1/budget/statistics?job_hash=job-0",
        "all_jobs": "/v1/budget/statistics",
    }
    with database(kind) as small_url, database(kind) as large_url:
        engines = {"small": create_engine(database_url(small_url))}
        engines["large"] = create_engine(database_url(large_url))
        scans = {
            "small": load(engines["small"], SMALL, rng),
            "large": load(engines["large"], LARGE, rng),
        }
        for engine in engines.values():
            settle(engine)
        with (
            service(9121, small_url, workers=1) as small,
            service(9122, large_url, workers=1) as large,
        ):
            servers = {"small": small.url, "large": large.url}
            for size, base in servers.items():
                for job in ("job-0", None):
                    params = {"job_hash": job} if job else {}
                    answer = httpx.get(f"{base}/v1/budget/statistics", params=params).json()
                    scans[size].check(answer, job)
            for base in servers.values():  # warm up
                for path in paths.values():
                    p50(base + path, 3)
            latencies: dict[str, dict[str, list[float]]] = {
                name: {"small": [], "large": []} for name in paths
            }
            for round_number in range(rounds):
                order = ["small", "large"] if round_number % 2 == 0 else ["large", "small"]
                for name, path in paths.items():
                    for size in order:
                        latencies[name][size].append(p50(servers[size] + path, seconds))
        for engine in engines.values():
            engine.dispose()
    report: dict[str, object] = {
        "database": kind,
        "machine": machine(),
        "seconds_per_run": seconds,
        "rounds": rounds,
        "small": SMALL,
        "large": LARGE,
    }
    for name, runs in latencies.items():
        small_p50 = statistics.median(runs["small"])
        large_p50 = statistics.median(runs["large"])
        report[name] = {
            "small_p50_ms": small_p50,
            "large_p50_ms": large_p50,
            "p50_ratio": large_p50 / small_p50,
            "runs": runs,
        }
    return report


def main() -> None:
    parser = arguments_parser(__doc__, seconds=5, rounds=6)
    arguments = parser.parse_args()
    report = run(arguments.db, arguments.seconds, arguments.rounds)
    write_report(f"statistics-scaling-{arguments.db}", report)


if __name__ == "__main__":
    main()
