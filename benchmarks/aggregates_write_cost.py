"""What maintaining the statistics costs the readings: throughput of the service before the
aggregates (a revision of this repository, by default 908e4d7) and of this checkout, each on
its own database, with the bare app as the yardstick, measured in alternating rounds in one run.

    .venv/bin/python -m benchmarks.aggregates_write_cost --db sqlite
    .venv/bin/python -m benchmarks.aggregates_write_cost --db postgresql

Both services run as operators run them (`entropy-budget serve`, 2 workers unless --workers);
the readings are benchmarks/readings.lua at 64 connections over 100 jobs. The figure asked for
is after / before (>= 0.9).
"""

from benchmarks.harness import (
    READINGS_SCRIPT,
    ReadingsLoad,
    WrkResult,
    add_readings_load_arguments,
    arguments_parser,
    bare_app,
    database,
    medians,
    service,
    source_at,
    write_report,
)


def run(kind: str, load: ReadingsLoad, *, before: str) -> dict[str, object]:
    results: dict[str, list[WrkResult]] = {"bare": [], "before": [], "after": []}
    with (
        source_at(before) as before_source,
        database(kind, source=before_source) as before_url,
        database(kind) as after_url,
        bare_app(9131) as bare,
        service(9132, before_url, workers=load.workers, source=before_source) as old,
        service(9133, after_url, workers=load.workers) as new,
    ):
        targets = {
            "bare": (bare.url + "/", None),
            "before": (old.url, READINGS_SCRIPT),
            "after": (new.url, READINGS_SCRIPT),
        }
        for round_number, name, result in load.alternating(targets):
            if round_number:
                assert result.non_2xx == 0, (name, result)
                results[name].append(result)

    report = {name: medians(runs) for name, runs in results.items()}
    return {
        **load.described(kind),
        "before_revision": before,
        **report,
        "before_to_bare": report["before"]["rps"] / report["bare"]["rps"],
        "after_to_bare": report["after"]["rps"] / report["bare"]["rps"],
        "after_to_before": report["after"]["rps"] / report["before"]["rps"],
    }


def main() -> None:
    parser = arguments_parser(__doc__, seconds=10, rounds=3)
    parser.add_argument("--before", default="908e4d7")
    add_readings_load_arguments(
        parser,
        workers_help="workers of each service (1 on a machine so loaded that uvicorn's "
        "supervisor kills workers that start slower than its 5 s ping)",
    )
    arguments = parser.parse_args()
    report = run(arguments.db, ReadingsLoad.of(arguments), before=arguments.before)
    write_report(f"aggregates-write-cost-{arguments.db}", report)


if __name__ == "__main__":
    main()
