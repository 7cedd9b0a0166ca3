"""Readings throughput and latency at 64 connections, against a bare FastAPI app and the
service's own /healthz, measured alternately in one run; then every chain is checked.

    .venv/bin/python -m benchmarks.readings_throughput --db sqlite
    .venv/bin/python -m benchmarks.readings_throughput --db postgresql

The bare app (benchmarks/bare_app.py: one async route, no middleware, no database) is the
denominator DESIGN.md section 5 asks for; /healthz is reported too, as the issue asks.
"""

import argparse
import json
import statistics

from sqlalchemy import create_engine, select

from app.budget import rules
from app.core.db import database_url
from app.models import EntropyResponse, ExplorationBudget
from benchmarks.harness import ROOT, WrkResult, database, machine, uvicorn, wrk

SCRIPT = ROOT / "benchmarks" / "readings.lua"


def check_chains(url: str, accepted_readings: int, in_flight_at_cutoff: int) -> dict[str, int]:
    """Every job's chain is unbroken, every record follows from its predecessor, and every
    acknowledged reading is stored (wrk stops counting the requests still in flight when a
    run ends, though the server completes them: at most one per connection per run)."""
    engine = create_engine(database_url(url))
    with engine.connect() as connection:
        records = connection.execute(
            select(ExplorationBudget).order_by(
                ExplorationBudget.job_hash, ExplorationBudget.job_seq
            )
        ).all()
        responses = connection.execute(select(EntropyResponse.job_hash)).scalars().all()
    engine.dispose()
    adjustments = 0
    previous = None
    for record in records:
        first = previous is None or previous.job_hash != record.job_hash
        expected_seq = 1 if first else previous.job_seq + 1
        assert record.job_seq == expected_seq, f"broken chain at {record.job_hash}#{record.job_seq}"
        current = None if first else previous.budget_value
        if record.adjustment_reason and record.adjustment_reason.startswith("Entropy response"):
            decision = rules.boost_for_response(
                current, 0.10, record.entropy_at_time, 0.3, rules.Bounds()
            )
        else:
            adjustments += 1
            decision = rules.adjust_for_entropy(
                current, record.entropy_at_time, rules.AdjustmentPolicy()
            )
        assert (record.budget_value, record.adjustment_type) == (
            decision.budget_value,
            decision.adjustment_type,
        ), f"{record.job_hash}#{record.job_seq} does not follow from its predecessor"
        previous = record
    assert accepted_readings <= adjustments <= accepted_readings + in_flight_at_cutoff, (
        adjustments,
        accepted_readings,
    )
    per_job = {job: responses.count(job) for job in set(responses)}
    assert all(count == 1 for count in per_job.values()), "more than one response per cooldown"
    return {"records": len(records), "adjustments": adjustments, "responses": len(responses)}


def run(kind: str, seconds: int, rounds: int, connections: int, jobs: int) -> dict[str, object]:
    results: dict[str, list[WrkResult]] = {"bare": [], "healthz": [], "readings": []}
    accepted_readings = 0
    load = {"JOBS": str(jobs)}
    with database(kind) as url:
        with (
            uvicorn("benchmarks.bare_app:app", 9101) as bare,
            uvicorn(
                "app.main:create_app", 9102, factory=True, env={"DATABASE_URL": url}
            ) as service,
        ):
            targets = {
                "bare": (bare.url + "/", None),
                "healthz": (service.url + "/healthz", None),
                "readings": (service.url, SCRIPT),
            }
            for round_number in range(rounds + 1):  # round 0 warms up and is not reported
                for name, (target, script) in targets.items():
                    result = wrk(
                        target,
                        seconds=2 if round_number == 0 else seconds,
                        connections=connections,
                        script=script,
                        env=load,
                    )
                    if name == "readings":
                        accepted_readings += result.requests - result.non_2xx
                    if round_number:
                        results[name].append(result)
            peak_rss = service.peak_rss_mib()
        chains = check_chains(url, accepted_readings, connections * (rounds + 1))

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
        "seconds_per_run": seconds,
        "rounds": rounds,
        "jobs": jobs,
        **report,
        "ratio_to_bare": report["readings"]["rps"] / report["bare"]["rps"],
        "ratio_to_healthz": report["readings"]["rps"] / report["healthz"]["rps"],
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
    arguments = parser.parse_args()
    report = run(
        arguments.db, arguments.seconds, arguments.rounds, arguments.connections, arguments.jobs
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"readings-{arguments.db}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
