"""What a scope read costs as the history grows: p50 of GET /v1/pattern-entropy in each scope
(global and one job, all-time and each registered half-life) over 10 thousand and over 1
million applications (a read is O(patterns in scope); goal <= 1.3).

    .venv/bin/python -m benchmarks.diversity_read_cost --db sqlite
    .venv/bin/python -m benchmarks.diversity_read_cost --db postgresql

Two databases, each loaded with the balanced history of benchmarks/diversity_detection.py (20
patterns, 10 jobs, 100 applications per second, ending now, recorded 1,000 at a time; the
default half-lives registered first, so every write keeps them), two one-worker servers,
measured in alternating rounds (wrk, one connection: each request's own latency), small and
large in turn.
"""

import statistics
from datetime import timedelta

from app.core.clock import utc_now
from app.core.settings import Settings
from benchmarks.diversity_detection import JOBS, PER_SECOND, open_database, prepare, record_history
from benchmarks.harness import (
    arguments_parser,
    database,
    load_average,
    machine,
    service,
    write_report,
    wrk,
)
from benchmarks.loading import settle
from tests.support import free_port


def scopes(half_lives: tuple[int, ...]) -> dict[str, str]:
    """Each scope's query string."""
    found = {"global all-time": "", "job all-time": f"job_hash={JOBS[0]}"}
    for half_life in half_lives:
        found[f"global half-life {half_life} s"] = f"half_life_seconds={half_life}"
        found[f"job half-life {half_life} s"] = f"job_hash={JOBS[0]}&half_life_seconds={half_life}"
    return found


def load(url: str, size: int, half_lives: tuple[int, ...]) -> None:
    db = open_database(url)
    start = utc_now() - timedelta(seconds=size / PER_SECOND)
    prepare(db, list(half_lives), start)
    record_history(db, size, start, progress=lambda n: None, seconds_per_call=10)
    settle(db.engine)
    db.dispose()


def run(kind: str, *, seconds: int, rounds: int, sizes: dict[str, int]) -> dict[str, object]:
    half_lives = Settings().diversity_half_life_seconds
    queries = scopes(half_lives)
    samples: dict[str, dict[str, list[float]]] = {
        name: {size: [] for size in sizes} for name in queries
    }
    report: dict[str, object] = {
        "database": kind,
        "machine": machine(),
        "load_average_at_start": load_average(),
        "seconds_per_run": seconds,
        "rounds": rounds,
    }
    with database(kind) as small_url, database(kind) as large_url:
        small_name, large_name = sizes
        for size, url in ((small_name, small_url), (large_name, large_url)):
            load(url, sizes[size], half_lives)
        report["load_average_after_loading"] = load_average()
        with (
            service(free_port(), small_url, workers=1) as small,
            service(free_port(), large_url, workers=1) as large,
        ):
            servers = {small_name: small, large_name: large}
            for round_number in range(rounds + 1):  # round 0 warms up and is not reported
                for name, query in queries.items():
                    order = list(sizes) if round_number % 2 else list(reversed(sizes))
                    for size in order:
                        result = wrk(
                            f"{servers[size].url}/v1/pattern-entropy?{query}",
                            seconds=2 if round_number == 0 else seconds,
                            connections=1,
                            threads=1,
                        )
                        assert result.non_2xx == 0, (name, size, result)
                        if round_number:
                            samples[name][size].append(result.p50_ms)
    report["p50_ms"] = {
        name: {
            **{size: statistics.median(values) for size, values in by_size.items()},
            "ratio": statistics.median(by_size[large_name])
            / statistics.median(by_size[small_name]),
        }
        for name, by_size in samples.items()
    }
    report["load_average_at_end"] = load_average()
    return report


def main() -> None:
    parser = arguments_parser(__doc__, seconds=2, rounds=7)
    parser.add_argument("--small", type=int, default=10_000, help="applications")
    parser.add_argument("--large", type=int, default=1_000_000, help="applications")
    arguments = parser.parse_args()
    sizes = {f"{arguments.small:,}": arguments.small, f"{arguments.large:,}": arguments.large}
    report = run(arguments.db, seconds=arguments.seconds, rounds=arguments.rounds, sizes=sizes)
    write_report(f"diversity-read-cost-{arguments.db}", report)


if __name__ == "__main__":
    main()
