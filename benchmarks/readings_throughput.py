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

import argparse
import contextlib
import json
import statistics
from collections import Counter

from sqlalchemy import create_engine, select

from app.core.api_keys import hash_key
from app.core.db import database_url
from app.models import EntropyResponse, ExplorationBudget
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
from tests.support import check_budget_chain, free_port

SCRIPT = ROOT / "benchmarks" / "readings.lua"
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
    kind: str,
    *,
    seconds: int,
    rounds: int,
    connections: int,
    jobs: int,
    extra_env: dict[str, str],
    versus: str | None = None,
    workers: int = 2,
) -> dict[str, object]:
    results: dict[str, list[WrkResult]] = {"bare": [], "healthz": [], "readings": []}
    accepted_readings = 0
    unanswered = 0  # requests a run left in flight, or gave up on (timeouts), the server may finish
    load = {"JOBS": str(jobs)}
    env = {**ALL_LAYERS_ENV, **extra_env}
    with database(kind) as url:
        with (
            bare_app(free_port(), workers) as bare,
            service(free_port(), url, env=env, workers=workers) as served,
            contextlib.ExitStack() as other,
        ):
            targets = {
                "bare": (bare.url + "/", None),
                "healthz": (served.url + "/healthz", None),
                "readings": (served.url, SCRIPT),
            }
            if versus is not None:
                source = other.enter_context(source_at(versus))
                then = other.enter_context(
                    service(free_port(), url, env=env, source=source, workers=workers)
                )
                targets["healthz_at_versus"] = (then.url + "/healthz", None)
                targets["readings_at_versus"] = (then.url, SCRIPT)
                results["healthz_at_versus"] = []
                results["readings_at_versus"] = []
            for round_number in range(rounds + 1):  # round 0 warms up and is not reported
                for name, (target, script) in targets.items():
                    result = wrk(
                        target,
                        seconds=2 if round_number == 0 else seconds,
                        connections=connections,
                        script=script,
                        env=load,
                        headers=AUTHORIZED,
                    )
                    if name.startswith("readings"):
                        accepted_readings += result.requests - result.non_2xx
                        unanswered += connections + result.socket_errors
                    if round_number:
                        results[name].append(result)
            peak_rss = served.peak_rss_mib()
        chains = check_chains(url, accepted_readings, unanswered)

    def summary(name: str) -> dict[str, float]:
        runs = results[name]
        return {
            "rps": statistics.median(r.requests_per_second for r in runs),
            "p50_ms": statistics.median(r.p50_ms for r in runs),
            "p99_ms": statistics.median(r.p99_ms for r in runs),
            "non_2xx": sum(r.non_2xx for r in runs),
            "socket_errors": sum(r.socket_errors for r in runs),
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server")
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
        arguments.db,
        seconds=arguments.seconds,
        rounds=arguments.rounds,
        connections=arguments.connections,
        jobs=arguments.jobs,
        extra_env=extra_env,
        versus=arguments.versus,
        workers=arguments.workers,
    )
    report["service_env"] = {**ALL_LAYERS_ENV, **extra_env}
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    suffix = "".join(f"-{pair}" for pair in arguments.env).replace("=", "_").lower()
    if arguments.workers != 2:
        suffix += f"-workers_{arguments.workers}"
    if arguments.versus:
        suffix += f"-versus-{arguments.versus}"
    (out / f"readings-{arguments.db}{suffix}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
