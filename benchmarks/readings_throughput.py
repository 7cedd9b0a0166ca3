"""Readings throughput and latency at 64 connections, against a bare FastAPI app and the
service's own /healthz, measured alternately in one run; then every chain is checked.

    .venv/bin/python -m benchmarks.readings_throughput --db sqlite
    .venv/bin/python -m benchmarks.readings_throughput --db postgresql

The bare app (benchmarks/bare_app.py: one async route, no middleware, no database) is the
denominator DESIGN.md section 5 asks for; /healthz is reported too, as the issue asks.

Every layer is on, as issue 9 asks: the JSON access log, metrics, the API-key check with a key
configured (wrk sends it), and the rate limit with a limit the load cannot reach
(`ALL_LAYERS_ENV`; `--env` overrides any of them).

With --versus REVISION, the service at that revision of this repository (`source_at`) runs
too, on the same database, and its /healthz and readings are measured in the same rounds,
alternating with this checkout's: a before/after in one run.
"""

import contextlib
from collections import Counter

from sqlalchemy import create_engine, select

from app.core.api_keys import hash_key
from app.core.db import database_url
from app.models import EntropyResponse, ExplorationBudget
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
from tests.support import check_budget_chain, free_port

BENCH_KEY = "eb_benchmark-key-not-a-secret"
ALL_LAYERS_ENV = {
    "LOG_FORMAT": "json",
    "ACCESS_LOG": "true",
    "API_KEYS": f"write:{hash_key(BENCH_KEY)}",
    "RATE_LIMIT_ENABLED": "true",
    "RATE_LIMIT": "1000000000/minute",
}
"""Every layer on: JSON access lines, metrics (always on), the key check with a key configured,
and a rate limit that counts every request but is never reached."""
AUTHORIZED = {"Authorization": f"Bearer {BENCH_KEY}"}


def check_chains(url: str, accepted_readings: int, in_flight_at_cutoff: int) -> dict[str, int]:
    """Every job's chain is unbroken and every record follows from its predecessor
    (tests.support.check_budget_chain), every job had at most one response (the cooldown
    outlasts the run), and every acknowledged reading is stored: wrk stops counting the
    requests still in flight when a run ends, and those it timed out on, though the server
    completes them, so up to one more per connection per run, and one per timeout, may be
    stored."""
    engine = create_engine(database_url(url))
    with engine.connect() as connection:
        jobs = connection.execute(select(ExplorationBudget.job_hash).distinct()).scalars().all()
        responses = Counter(connection.execute(select(EntropyResponse.job_hash)).scalars())
    records = [record for job in jobs for record in check_budget_chain(engine, job)]
    engine.dispose()
    adjustments = sum(
        1 for r in records if not (r.adjustment_reason or "").startswith("Entropy response")
    )
    assert accepted_readings <= adjustments <= accepted_readings + in_flight_at_cutoff, (
        adjustments,
        accepted_readings,
    )
    assert all(count == 1 for count in responses.values()), "two responses in one cooldown"
    return {
        "records": len(records),
        "adjustments": adjustments,
        "responses": sum(responses.values()),
    }


def run(
    kind: str, load: ReadingsLoad, *, extra_env: dict[str, str], versus: str | None = None
) -> dict[str, object]:
    results: dict[str, list[WrkResult]] = {"bare": [], "healthz": [], "readings": []}
    accepted_readings = 0
    unanswered = 0  # requests a run left in flight, or gave up on (timeouts), the server may finish
    env = {**ALL_LAYERS_ENV, **extra_env}
    with database(kind) as url:
        with (
            bare_app(free_port(), load.workers) as bare,
            service(free_port(), url, env=env, workers=load.workers) as served,
            contextlib.ExitStack() as other,
        ):
            targets = {
                "bare": (bare.url + "/", None),
                "healthz": (served.url + "/healthz", None),
                "readings": (served.url, READINGS_SCRIPT),
            }
            if versus is not None:
                source = other.enter_context(source_at(versus))
                then = other.enter_context(
                    service(free_port(), url, env=env, source=source, workers=load.workers)
                )
                targets["healthz_at_versus"] = (then.url + "/healthz", None)
                targets["readings_at_versus"] = (then.url, READINGS_SCRIPT)
                results["healthz_at_versus"] = []
                results["readings_at_versus"] = []
            for round_number, name, result in load.alternating(targets, headers=AUTHORIZED):
                if name.startswith("readings"):
                    accepted_readings += result.requests - result.non_2xx
                    unanswered += load.connections + result.socket_errors
                if round_number:
                    results[name].append(result)
            peak_rss = served.peak_rss_mib()
        chains = check_chains(url, accepted_readings, unanswered)

    report = {
        name: {
            **medians(runs),
            "non_2xx": sum(r.non_2xx for r in runs),
            "socket_errors": sum(r.socket_errors for r in runs),
        }
        for name, runs in results.items()
    }
    return {
        **load.described(kind),
        **report,
        "ratio_to_bare": report["readings"]["rps"] / report["bare"]["rps"],
        "healthz_ratio_to_bare": report["healthz"]["rps"] / report["bare"]["rps"],
        "ratio_to_healthz": report["readings"]["rps"] / report["healthz"]["rps"],
        **(
            {}
            if versus is None
            else {
                "versus": versus,
                "versus_ratio_to_bare": report["readings_at_versus"]["rps"] / report["bare"]["rps"],
                "versus_healthz_ratio_to_bare": report["healthz_at_versus"]["rps"]
                / report["bare"]["rps"],
                "readings_over_versus": report["readings"]["rps"]
                / report["readings_at_versus"]["rps"],
            }
        ),
        "server_peak_rss_mib": peak_rss,
        "chains": chains,
    }


def main() -> None:
    parser = arguments_parser(__doc__, seconds=10, rounds=3)
    add_readings_load_arguments(parser)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the service, e.g. ACCESS_LOG=false (repeatable)",
    )
    parser.add_argument(
        "--versus",
        metavar="REVISION",
        help="also serve this git revision, its readings measured alternately (before/after)",
    )
    arguments = parser.parse_args()
    extra_env = dict(pair.split("=", 1) for pair in arguments.env)
    report = run(
        arguments.db, ReadingsLoad.of(arguments), extra_env=extra_env, versus=arguments.versus
    )
    report["service_env"] = {**ALL_LAYERS_ENV, **extra_env}
    suffix = "".join(f"-{pair}" for pair in arguments.env).replace("=", "_").lower()
    if arguments.workers != 2:
        suffix += f"-workers_{arguments.workers}"
    if arguments.versus:
        suffix += f"-versus-{arguments.versus}"
    write_report(f"readings-{arguments.db}{suffix}", report)


if __name__ == "__main__":
    main()
