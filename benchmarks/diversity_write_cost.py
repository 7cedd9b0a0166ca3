"""What keeping diversity scopes costs the writers (issue 10):

1. applications per second through POST /v1/pattern-applications (batches of 100, one job per
   batch over 100 jobs, 20 patterns: benchmarks/applications.lua) before the diversity engine
   (a revision of this repository, by default 174abcc^) and after (this checkout, the three
   default half-lives registered), each on its own database, alternating in one run
   (goal: after >= 0.7 of before);
2. readings without `entropy` (the job's own scope, half-life 300 s, set by the
   POLICY_DIVERSITY_* defaults) against readings with one (benchmarks/readings.lua with and
   without WITHOUT_ENTROPY), on one server, alternating in one run; with --readings-versus
   REVISION, that revision's server too, in the same rounds (--readings-only skips part 1,
   --applications-only part 2).

    .venv/bin/python -m benchmarks.diversity_write_cost --db sqlite
    .venv/bin/python -m benchmarks.diversity_write_cost --db postgresql
    .venv/bin/python -m benchmarks.diversity_write_cost --db postgresql --readings-only \
        --readings-versus 676dc98^

The readings before/after is benchmarks/readings_throughput.py with --versus 174abcc^.

On PostgreSQL, the hot tables' sizes and dead tuples (pg_stat_user_tables) are read after
each round, then every 10 s of a further --sustain seconds of writes to the "after" service
alone, with the p50 of a global 300 s half-life read (one connection, alongside the writes)
at its start and end: autovacuum and HOT updates have to keep up under continuous load, not
after a quiet pause.
"""

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks.harness import (
    READINGS_SCRIPT,
    ROOT,
    WrkResult,
    alternating,
    arguments_parser,
    database,
    load_average,
    machine,
    medians,
    service,
    source_at,
    write_report,
    wrk,
)
from tests.support import free_port

APPLICATIONS = ROOT / "benchmarks" / "applications.lua"
PATTERNS = 20
JOBS = 100
BATCH = 100
HOT_TABLES = ("patterns", "job_pattern_counts", "diversity_weights", "pattern_applications")
SCOPE_ENV = {"POLICY_DIVERSITY_SCOPE": "job", "POLICY_DIVERSITY_HALF_LIFE_SECONDS": "300"}


def create_patterns(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(PATTERNS):
            response = client.post(
                "/v1/patterns",
                json={"id": f"pattern-{n:02d}", "pattern_type": "bench", "pattern_name": "p"},
            )
            assert response.status_code == 201, response.text


def apply_in_every_job(url: str) -> None:
    """One batch per job of readings.lua, so each job's own scope has applications."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for job in range(JOBS):
            items = [
                {
                    "pattern_id": f"pattern-{n % PATTERNS:02d}",
                    "execution_id": "seed",
                    "job_hash": f"bench-{job}",
                    "pattern_led_to_success": True,
                }
                for n in range(job, job + 2 * PATTERNS)
            ]
            response = client.post("/v1/pattern-applications", json={"applications": items})
            assert response.status_code == 201, response.text


def table_stats(url: str) -> dict[str, dict[str, Any]]:
    """Per hot table: total size (with indexes and TOAST), live and dead tuples, and how many
    vacuums and autovacuums ran, from pg_stat_user_tables."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT relname, pg_total_relation_size(relid), n_live_tup, n_dead_tup, "
            "n_tup_upd, n_tup_hot_upd, autovacuum_count "
            "FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(HOT_TABLES)],
        ).fetchall()
    return {
        name: {
            "size_kib": size // 1024,
            "live": live,
            "dead": dead,
            "updates": updates,
            "hot_updates": hot,
            "autovacuums": autovacuums,
        }
        for name, size, live, dead, updates, hot, autovacuums in rows
    }


def measured(
    targets: dict[str, tuple[str, Path]],
    *,
    rounds: int,
    seconds: int,
    connections: int,
    env: dict[str, str],
    target_env: dict[str, dict[str, str]] | None = None,
    after_round: Callable[[int], None] | None = None,
) -> dict[str, list[WrkResult]]:
    """The reported rounds of `alternating`, every request answered with a 2xx;
    `after_round(n)` as soon as round n's last run ends."""
    results: dict[str, list[WrkResult]] = {name: [] for name in targets}
    runs: Counter[int] = Counter()
    for round_number, name, result in alternating(
        targets,
        rounds=rounds,
        seconds=seconds,
        connections=connections,
        env=env,
        target_env=target_env,
    ):
        if round_number:
            assert result.non_2xx == 0, (name, result)
            results[name].append(result)
        runs[round_number] += 1
        if after_round is not None and runs[round_number] == len(targets):
            after_round(round_number)
    return results


def per_second(runs: list[WrkResult], per_request: int) -> dict[str, float]:
    summary = medians(runs)
    return {"per_second": summary.pop("rps") * per_request, **summary}


def sustained(
    url: str, database_url: str, seconds: int, connections: int, load: dict[str, str]
) -> dict[str, object]:
    """Writes for `seconds` without a pause; the hot tables sampled every 10 s meanwhile, and
    a scope read's p50 (over the writes) at the start and at the end."""
    read = f"{url}/v1/pattern-entropy?half_life_seconds=300"
    samples: list[dict[str, dict[str, Any]]] = []
    done = threading.Event()

    def sampler() -> None:
        while not done.wait(10):
            samples.append(table_stats(database_url))

    def read_p50() -> float:
        return wrk(read, seconds=5, connections=1, threads=1).p50_ms

    writer = threading.Thread(
        target=lambda: wrk(
            url, seconds=seconds, connections=connections, script=APPLICATIONS, env=load
        )
    )
    thread = threading.Thread(target=sampler)
    writer.start()
    thread.start()
    first_read = read_p50()
    writer.join(timeout=seconds - 5)
    last_read = read_p50()
    writer.join()
    done.set()
    thread.join()
    return {
        "seconds": seconds,
        "read_p50_ms_at_start": first_read,
        "read_p50_ms_at_end": last_read,
        "every_10_s": samples,
    }


def applications_cost(
    kind: str,
    *,
    before: str,
    rounds: int,
    seconds: int,
    connections: int,
    workers: int,
    sustain: int,
) -> dict[str, object]:
    load = {"JOBS": str(JOBS), "PATTERNS": str(PATTERNS)}
    stats: dict[str, object] = {}
    with (
        source_at(before) as before_source,
        database(kind, source=before_source) as before_url,
        database(kind) as after_url,
        service(free_port(), before_url, workers=workers, source=before_source) as old,
        service(free_port(), after_url, workers=workers) as new,
    ):
        for server in (old, new):
            create_patterns(server.url)

        def sample(round_number: int) -> None:
            if kind == "postgresql":
                stats[f"after round {round_number}"] = {
                    "before": table_stats(before_url),
                    "after": table_stats(after_url),
                }

        results = measured(
            {"before": (old.url, APPLICATIONS), "after": (new.url, APPLICATIONS)},
            rounds=rounds,
            seconds=seconds,
            connections=connections,
            env=load,
            after_round=sample,
        )
        if kind == "postgresql" and sustain:
            stats["sustained"] = sustained(new.url, after_url, sustain, connections, load)
    report = {name: per_second(runs, BATCH) for name, runs in results.items()}
    return {
        "before_revision": before,
        "workers": workers,
        "connections": connections,
        **report,
        "after_to_before": report["after"]["per_second"] / report["before"]["per_second"],
        **({"table_stats": stats} if stats else {}),
    }


def readings_without_entropy(
    kind: str, *, rounds: int, seconds: int, connections: int, workers: int, versus: str | None
) -> dict[str, object]:
    """Readings without against with `entropy` on one server; with `versus`, that revision's
    server too (its own database), alternating in the same rounds: a before/after."""
    load = {"JOBS": str(JOBS)}
    sources = {"": None} | ({} if versus is None else {f" at {versus}": versus})
    targets: dict[str, tuple[str, Path]] = {}
    without: dict[str, dict[str, str]] = {}
    with contextlib.ExitStack() as stack:
        for suffix, revision in sources.items():
            source = None if revision is None else stack.enter_context(source_at(revision))
            url = stack.enter_context(database(kind, source=source))
            served = stack.enter_context(
                service(free_port(), url, workers=workers, env=SCOPE_ENV, source=source)
            )
            create_patterns(served.url)
            apply_in_every_job(served.url)
            targets[f"with entropy{suffix}"] = (served.url, READINGS_SCRIPT)
            targets[f"without entropy{suffix}"] = (served.url, READINGS_SCRIPT)
            without[f"without entropy{suffix}"] = {"WITHOUT_ENTROPY": "1"}
        results = measured(
            targets,
            rounds=rounds,
            seconds=seconds,
            connections=connections,
            env=load,
            target_env=without,
        )
    rates = {name: per_second(runs, 1) for name, runs in results.items()}
    ratios = {
        f"without_to_with{suffix}": rates[f"without entropy{suffix}"]["per_second"]
        / rates[f"with entropy{suffix}"]["per_second"]
        for suffix in sources
    }
    return {
        "service_env": SCOPE_ENV,
        "workers": workers,
        "connections": connections,
        **rates,
        **ratios,
    }


def main() -> None:
    parser = arguments_parser(__doc__, seconds=10, rounds=3)
    parser.add_argument("--before", default="174abcc^")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--readings-connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server")
    parser.add_argument(
        "--sustain", type=int, default=120, help="PostgreSQL: seconds of continuous writes"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--readings-only", action="store_true", help="skip the applications before/after"
    )
    only.add_argument(
        "--applications-only", action="store_true", help="skip the readings without entropy"
    )
    parser.add_argument(
        "--readings-versus",
        metavar="REVISION",
        help="also serve this revision in the readings part, measured alternately",
    )
    arguments = parser.parse_args()
    report: dict[str, object] = {
        "database": arguments.db,
        "machine": machine(),
        "load_average_at_start": load_average(),
        "seconds_per_run": arguments.seconds,
        "rounds": arguments.rounds,
    }
    if not arguments.readings_only:
        report["applications"] = applications_cost(
            arguments.db,
            before=arguments.before,
            rounds=arguments.rounds,
            seconds=arguments.seconds,
            connections=arguments.connections,
            workers=arguments.workers,
            sustain=arguments.sustain,
        )
    report["load_average_between"] = load_average()
    if not arguments.applications_only:
        report["readings_without_entropy"] = readings_without_entropy(
            arguments.db,
            rounds=arguments.rounds,
            seconds=arguments.seconds,
            connections=arguments.readings_connections,
            workers=arguments.workers,
            versus=arguments.readings_versus,
        )
    report["load_average_at_end"] = load_average()
    write_report(f"diversity-write-cost-{arguments.db}", report)


if __name__ == "__main__":
    main()
