"""What maintaining the statistics costs the readings: throughput of the service before the
aggregates (a revision of this repository, by default 908e4d7) and of this checkout, each on
its own database, with the bare app as the yardstick, measured in alternating rounds in one run.

    .venv/bin/python -m benchmarks.aggregates_write_cost --db sqlite
    .venv/bin/python -m benchmarks.aggregates_write_cost --db postgresql

Both services run as operators run them (`entropy-budget serve`, 2 workers unless --workers);
the readings are benchmarks/readings.lua at 64 connections over 100 jobs. The figure asked for
is after / before (>= 0.9).
"""

import argparse
import json
import statistics

from benchmarks.harness import (
    ROOT,
    WrkResult,
    bare_app,
    database,
    machine,
    service,
    source_at,
    wrk,
)

SCRIPT = ROOT / "benchmarks" / "readings.lua"


def run(
    kind: str,
    *,
    before: str,
    seconds: int,
    rounds: int,
    connections: int,
    jobs: int,
    workers: int,
) -> dict[str, object]:
    results: dict[str, list[WrkResult]] = {"bare": [], "before": [], "after": []}
    load = {"JOBS": str(jobs)}
    with (
        source_at(before) as before_source,
        database(kind, source=before_source) as before_url,
        database(kind) as after_url,
        bare_app(9131) as bare,
        service(9132, before_url, workers=workers, source=before_source) as old,
        service(9133, after_url, workers=workers) as new,
    ):
        targets = {
            "bare": (bare.url + "/", None),
            "before": (old.url, SCRIPT),
            "after": (new.url, SCRIPT),
        }
        names = list(targets)
        for round_number in range(rounds + 1):  # round 0 warms up and is not reported
            order = names[round_number % 3 :] + names[: round_number % 3]
            for name in order:
                target, script = targets[name]
                result = wrk(
                    target,
                    seconds=2 if round_number == 0 else seconds,
                    connections=connections,
                    script=script,
                    env=load,
                )
                if round_number:
                    assert result.non_2xx == 0, (name, result)
                    results[name].append(result)

    def summary(name: str) -> dict[str, float]:
        runs = results[name]
        return {
            "rps": statistics.median(r.requests_per_second for r in runs),
            "p50_ms": statistics.median(r.p50_ms for r in runs),
            "p99_ms": statistics.median(r.p99_ms for r in runs),
        }

    report = {name: summary(name) for name in results}
    return {
        "database": kind,
        "machine": machine(),
        "before_revision": before,
        "connections": connections,
        "jobs": jobs,
        "workers": workers,
        "seconds_per_run": seconds,
        "rounds": rounds,
        **report,
        "before_to_bare": report["before"]["rps"] / report["bare"]["rps"],
        "after_to_bare": report["after"]["rps"] / report["bare"]["rps"],
        "after_to_before": report["after"]["rps"] / report["before"]["rps"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--before", default="908e4d7")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="workers of each service (1 on a machine so loaded that uvicorn's supervisor "
        "kills workers that start slower than its 5 s ping)",
    )
    arguments = parser.parse_args()
    report = run(
        arguments.db,
        before=arguments.before,
        seconds=arguments.seconds,
        rounds=arguments.rounds,
        connections=arguments.connections,
        jobs=arguments.jobs,
        workers=arguments.workers,
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"aggregates-write-cost-{arguments.db}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
