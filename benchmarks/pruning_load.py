"""Readings at load while a pruning pass removes a million old budget records, in one run:
windows of readings with the pass running beside them alternate with windows without it,
until the pass has removed every loaded record.

    .venv/bin/python -m benchmarks.pruning_load --db sqlite
    .venv/bin/python -m benchmarks.pruning_load --db postgresql

Loaded (`benchmarks.loading`, heads and statistics kept as the service keeps them): 1M budget
records over the 100 jobs that wrk's readings load writes (benchmarks/readings.lua), stamped
months ago, so that with RETENTION_DAYS_BUDGET=30 all of them may go once readings have moved
each job's tip. The service: one worker, every layer on (as benchmarks/readings_throughput.py),
no retention of its own. The pass: `entropy-budget prune` in its own process with the same
database and the default batch size and pause, started before a pruning window (once its first
batch has committed) and stopped (SIGTERM) at its end; the next pruning window starts a new
pass. Each round has one window of each kind, their order alternating. A pruning window in
which the pass ran out of rows is reported but left out of the medians.

At the end, the statistics of every job still count every record ever written (the pruned
ones included): pruning does not decrement the aggregates.
"""

import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
from sqlalchemy import Engine, create_engine, text

from app.budget.rules import AdjustmentType
from app.core.db import database_url
from benchmarks.harness import (
    READINGS_SCRIPT,
    ROOT,
    WrkResult,
    arguments_parser,
    database,
    machine,
    service,
    write_report,
    wrk,
)
from benchmarks.loading import add_budget_records, settle
from benchmarks.readings_throughput import ALL_LAYERS_ENV, AUTHORIZED
from tests.support import free_port

JOBS = 100
LOADED_BEFORE = datetime(2026, 6, 1, tzinfo=UTC)
"""Every loaded record is stamped before this, every reading after it."""
PRUNE_ENV = {"RETENTION_DAYS_BUDGET": "30"}
"""The pass prunes budget records only, with the default batch size and pause (--env sets
them); every other history is kept."""
LAUNCHER = Path(sys.executable).with_name("entropy-budget")


def load(engine: Engine, records: int) -> None:
    per_job = records // JOBS
    types = get_args(AdjustmentType)
    for n in range(JOBS):
        values = [(0.05 + (i % 97) / 200, types[i % len(types)]) for i in range(per_job)]
        add_budget_records(engine, f"bench-{n}", values)


def old_records(engine: Engine) -> int:
    with engine.connect() as connection:
        count: int = connection.execute(
            text("SELECT count(*) FROM exploration_budget WHERE recorded_at < :before"),
            {"before": LOADED_BEFORE},
        ).scalar_one()
    return count


def start_pass(
    url: str, engine: Engine, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes] | None:
    """A pruning pass in its own process, once it has committed a batch (None: nothing left
    that it could prune)."""
    before = old_records(engine)
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(LAUNCHER), "prune"],
            env={**os.environ, "DATABASE_URL": url, **env},
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while old_records(engine) == before:
        if process.poll() is not None:
            return None
        if time.monotonic() > deadline:
            stop_pass(process)
            raise RuntimeError("the pruning pass removed nothing in 60 s")
        time.sleep(0.1)
    return process


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """The CPU time the pass's own process has used (its database server's is not counted)."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_pass(process: subprocess.Popen[bytes]) -> bool:
    """Stop the pass; True if it was still running (it had rows left to prune)."""
    running = process.poll() is None
    if running:
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    return running


def readings(base: str, seconds: int, connections: int) -> WrkResult:
    result = wrk(
        base,
        seconds=seconds,
        connections=connections,
        script=READINGS_SCRIPT,
        env={"JOBS": str(JOBS)},
        headers=AUTHORIZED,
    )
    assert result.non_2xx == 0, result
    return result


def check_statistics(base: str, engine: Engine, loaded: int) -> dict[str, int]:
    """The statistics of all jobs count what is stored plus what was pruned (once the
    readings wrk left in flight are done)."""
    time.sleep(2)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM exploration_budget")).scalar_one()
    pruned = loaded - old_records(engine)
    answer = httpx.get(f"{base}/v1/budget/statistics", headers=AUTHORIZED).json()
    assert answer["total_adjustments"] == stored + pruned, (answer, stored, pruned)
    return {"stored": stored, "pruned": pruned, "total_adjustments": answer["total_adjustments"]}


def run(
    kind: str,
    *,
    records: int,
    seconds: int,
    connections: int,
    max_rounds: int,
    prune_env: dict[str, str],
    log: Path,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "database": kind,
        "machine": machine(),
        "load_average_at_start": os.getloadavg(),
        "records_loaded": records,
        "jobs": JOBS,
        "connections": connections,
        "seconds_per_window": seconds,
        "prune_env": prune_env,
    }
    windows: dict[str, list[dict[str, Any]]] = {"pruning": [], "not_pruning": []}
    with database(kind) as url:
        engine = create_engine(database_url(url))
        started = time.monotonic()
        load(engine, records)
        report["load_seconds"] = round(time.monotonic() - started)
        settle(engine)
        with service(free_port(), url, env=ALL_LAYERS_ENV, workers=1) as served:

            def window(pruning: bool) -> dict[str, Any] | None:
                """One window of readings, with a pass running beside it or not (None: the
                pass found nothing left to prune)."""
                before = old_records(engine)
                process = start_pass(url, engine, log, prune_env) if pruning else None
                if pruning and process is None:
                    return None
                begun = old_records(engine)
                cpu_at_start = cpu_seconds(process) if process else 0.0
                result = readings(served.url, seconds, connections)
                cpu = (
                    cpu_seconds(process) - cpu_at_start
                    if process and process.poll() is None
                    else None
                )
                running = stop_pass(process) if process else False
                return {
                    **asdict(result),
                    "pruned_before_window": before - begun,
                    "pruned_in_window": begun - old_records(engine),
                    "pass_ran_out": process is not None and not running,
                    "pass_cpu_seconds": cpu,
                }

            readings(served.url, 3, connections)  # warm up; moves every job's tip
            finished = False
            for round_number in range(max_rounds):
                order = ["pruning", "not_pruning"]
                if round_number % 2:
                    order.reverse()
                for name in order:
                    entry = window(name == "pruning")
                    if entry is None:
                        finished = True  # nothing was left to prune
                        break
                    windows[name].append({"round": round_number, **entry})
                if finished:
                    break
            report["statistics"] = check_statistics(served.url, engine, records)
        engine.dispose()
    report["load_average_at_end"] = os.getloadavg()

    def medians(name: str) -> dict[str, float]:
        runs = [w for w in windows[name] if not w["pass_ran_out"]]
        if not runs:
            raise SystemExit(f"no {name} window to report: every pass ran out of rows within it")
        return {
            "windows": len(runs),
            "rps": statistics.median(w["requests_per_second"] for w in runs),
            "p50_ms": statistics.median(w["p50_ms"] for w in runs),
            "p99_ms": statistics.median(w["p99_ms"] for w in runs),
            "max_p99_ms": max(w["p99_ms"] for w in runs),
        }

    report["pruning"] = medians("pruning")
    report["not_pruning"] = medians("not_pruning")
    report["throughput_ratio"] = report["pruning"]["rps"] / report["not_pruning"]["rps"]
    report["p99_ratio"] = report["pruning"]["p99_ms"] / report["not_pruning"]["p99_ms"]
    without = {w["round"]: w["requests_per_second"] for w in windows["not_pruning"]}
    paired = sorted(
        w["requests_per_second"] / without[w["round"]]
        for w in windows["pruning"]
        if not w["pass_ran_out"] and w["round"] in without
    )
    report["throughput_ratio_per_round"] = {
        "median": statistics.median(paired),
        "min": paired[0],
        "max": paired[-1],
    }
    pruning_seconds = seconds * len(windows["pruning"])
    report["pruned_rows_per_second_in_windows"] = (
        sum(w["pruned_in_window"] for w in windows["pruning"]) / pruning_seconds
    )
    cpu = [w["pass_cpu_seconds"] for w in windows["pruning"] if w["pass_cpu_seconds"] is not None]
    report["pass_cpu_share_of_one_core"] = statistics.median(cpu) / seconds if cpu else None
    report["windows"] = windows
    return report


def main() -> None:
    parser = arguments_parser(__doc__, seconds=10)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--max-rounds", type=int, default=40, help="stop here even if rows are left to prune"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the pass, e.g. RETENTION_BATCH_SIZE=200 (repeatable)",
    )
    arguments = parser.parse_args()
    prune_env = {**PRUNE_ENV, **dict(pair.split("=", 1) for pair in arguments.env)}
    name = f"pruning-load-{arguments.db}" + "".join(
        f"-{pair}".replace("=", "_").lower() for pair in arguments.env
    )
    log = ROOT / "benchmarks" / "results" / f"{name}.log"
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)  # what this run's passes print
    report = run(
        arguments.db,
        records=arguments.records,
        seconds=arguments.seconds,
        connections=arguments.connections,
        max_rounds=arguments.max_rounds,
        prune_env=prune_env,
        log=log,
    )
    write_report(name, report)


if __name__ == "__main__":
    main()
