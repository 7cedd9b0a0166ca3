"""How many applications of one pattern pass before diversity falls below 0.3, after a balanced
history of 10k, 100k and 1M applications, in four scopes: global and job, all-time and with a
300 s half-life (issue 10).

    .venv/bin/python -m benchmarks.diversity_detection --db sqlite
    .venv/bin/python -m benchmarks.diversity_detection --db postgresql

Everything runs in process on a simulated clock and measures with the service's own
`app.diversity.service.measure` (what GET /v1/pattern-entropy answers with). The history
spreads 100 applications per simulated second over 20 patterns and 10 jobs, each job balanced
over the 20; then job-0 applies pattern-00 at 100 per second. Only the 300 s half-life is
registered (the others would only cost writes).

Writes: while a half-life scope is pending, through `app.patterns.service.record` itself (what
every application endpoint calls). The history and the all-time tail (millions of rows) go
through `record_bulk`: the same counter and accumulator updates (`PatternRepository.record_uses`,
`app.diversity.service.record_applications`), the rows inserted with one Core statement instead
of one ORM object each (about 0.3 ms a row on this machine: 5M rows would take half an hour).

Each scope still above the threshold is measured after every step. A step is one simulated
second (100 applications) while a half-life scope is pending, so those counts are exact to
100; then steps grow to 0.5% of the applications recorded since the collapse began (the
all-time counts run into the millions), and a count is exact to the step it was found in,
which the report gives as `resolution`.
"""

import argparse
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.core.db import Database, create_db_engine
from app.core.settings import Settings
from app.diversity import service as diversity
from app.diversity.schemas import Scope
from app.models import PatternApplication
from app.patterns import service as patterns
from app.patterns.repository import PatternRepository
from app.patterns.schemas import ApplicationFields, PatternCreate
from benchmarks.harness import database, load_average, machine, write_report

PATTERNS = [f"pattern-{n:02d}" for n in range(20)]
JOBS = [f"job-{n}" for n in range(10)]
PER_SECOND = 100
HALF_LIFE = 300
THRESHOLD = 0.3
START = datetime(2026, 1, 1, tzinfo=UTC)
SCOPES = {
    "global all-time": Scope(job_hash=None, half_life_seconds=None),
    "job all-time": Scope(job_hash=JOBS[0], half_life_seconds=None),
    "global half-life 300 s": Scope(job_hash=None, half_life_seconds=HALF_LIFE),
    "job half-life 300 s": Scope(job_hash=JOBS[0], half_life_seconds=HALF_LIFE),
}
COLLAPSE = ApplicationFields(execution_id="bench", job_hash=JOBS[0], pattern_led_to_success=True)
"""The collapsing job's application, shared by every one of them (`record` only reads it)."""


def open_database(url: str) -> Database:
    return Database(create_db_engine(Settings(database_url=url)))


def prepare(db: Database, half_lives: list[int], now: datetime) -> None:
    """The 20 patterns, and the half-lives registered (on an empty table: nothing to fill)."""
    with db.session(write=True) as session:
        for pattern_id in PATTERNS:
            patterns.create_pattern(
                session,
                lambda: now,
                PatternCreate(id=pattern_id, pattern_type="bench", pattern_name=pattern_id),
            )
        diversity.register_and_fill(session, half_lives, now)
        session.commit()


def record_bulk(session: Session, applied_at: datetime, items: list[tuple[str, str]]) -> None:
    """`app.patterns.service.record` for (pattern_id, job_hash) pairs, all succeeding, with the
    rows inserted in one statement: the counts and weights it keeps are kept the same way."""
    session.execute(
        insert(PatternApplication),
        [
            {
                "id": uuid.uuid4().hex,
                "pattern_id": pattern_id,
                "execution_id": "bench",
                "job_hash": job_hash,
                "applied_at": applied_at,
                "pattern_led_to_success": True,
                "retry_count_before": 0,
                "retry_count_after": 0,
            }
            for pattern_id, job_hash in items
        ],
    )
    uses = Counter(pattern_id for pattern_id, _ in items)
    repository = PatternRepository(session)
    for pattern_id in sorted(uses):
        repository.record_uses(
            pattern_id,
            uses=uses[pattern_id],
            successes=uses[pattern_id],
            outcomes=uses[pattern_id],
            seen_at=applied_at,
        )
    diversity.record_applications(
        session, applied_at, [(job_hash, pattern_id) for pattern_id, job_hash in items]
    )


def record_history(
    db: Database,
    applications: int,
    start: datetime,
    *,
    progress: Callable[[int], None],
    seconds_per_call: int = 1,
) -> datetime:
    """A balanced history: application i goes to pattern i mod 20 and job (i div 20) mod 10,
    100 per simulated second, one `record_bulk` call per `seconds_per_call` seconds (its
    applications stamped at its first), committed every 10,000 applications. Returns the time
    after the last second."""
    per_call = PER_SECOND * seconds_per_call
    with db.session(write=True) as session:
        for first in range(0, applications, per_call):
            items = [
                (PATTERNS[i % len(PATTERNS)], JOBS[(i // len(PATTERNS)) % len(JOBS)])
                for i in range(first, min(first + per_call, applications))
            ]
            record_bulk(session, start + timedelta(seconds=first / PER_SECOND), items)
            done = first + len(items)
            if done % 10_000 < per_call or done == applications:
                session.commit()
                progress(done)
    return start + timedelta(seconds=applications / PER_SECOND)


def below(session: Session, scope: Scope, at: datetime) -> tuple[bool, float]:
    index = diversity.measure(session, scope, at).metrics.diversity_index
    return index < THRESHOLD, index


def collapse(db: Database, start: datetime) -> dict[str, dict[str, float | int]]:
    """job-0 applies pattern-00 at 100 per simulated second until every scope reads below the
    threshold; per scope, the applications recorded when it first did, and the step size."""
    pending = dict(SCOPES)
    found: dict[str, dict[str, float | int]] = {}
    recorded = 0
    now = start
    with db.session(write=True) as session:
        while pending:
            timed = any(scope.half_life_seconds is not None for scope in pending.values())
            if timed:
                step = PER_SECOND
                patterns.record(session, now, [(PATTERNS[0], COLLAPSE)] * step)
            else:
                step = max(PER_SECOND, recorded // 200 // 100 * 100)
                record_bulk(session, now, [(PATTERNS[0], JOBS[0])] * step)
            session.commit()
            recorded += step
            now += timedelta(seconds=step / PER_SECOND)
            for name, scope in list(pending.items()):
                crossed, index = below(session, scope, now)
                if crossed:
                    found[name] = {"applications": recorded, "resolution": step, "diversity": index}
                    del pending[name]
            session.commit()
    return found


def reporter(label: str) -> Callable[[int], None]:
    def progress(recorded: int) -> None:
        if recorded % 100_000 == 0:
            print(f"{label}: {recorded} recorded", flush=True)

    return progress


def run(kind: str, sizes: list[int]) -> dict[str, object]:
    report: dict[str, object] = {
        "database": kind,
        "machine": machine(),
        "load_average_at_start": load_average(),
        "patterns": len(PATTERNS),
        "jobs": len(JOBS),
        "per_simulated_second": PER_SECOND,
        "threshold": THRESHOLD,
    }
    for size in sizes:
        started = time.monotonic()
        with database(kind) as url:
            db = open_database(url)
            prepare(db, [HALF_LIFE], START)
            end = record_history(db, size, START, progress=reporter(f"{kind} {size}"))
            loaded = time.monotonic() - started
            with db.session(write=False) as session:
                before = {name: below(session, scope, end)[1] for name, scope in SCOPES.items()}
            counts = collapse(db, end)
            db.dispose()
        report[f"{size}"] = {
            "diversity_before_collapse": before,
            "until_below_threshold": counts,
            "history_seconds": round(loaded, 1),
            "total_seconds": round(time.monotonic() - started, 1),
        }
        print(json.dumps(report[f"{size}"], indent=2), flush=True)
    growth: dict[str, float] = {}
    for name in SCOPES:
        per_size = [
            report[f"{size}"]["until_below_threshold"][name]["applications"]  # type: ignore[index]
            for size in sizes
        ]
        for small, large, a, b in zip(sizes, sizes[1:], per_size, per_size[1:], strict=False):
            growth[f"{name}: {small} -> {large}"] = b / a
    report["growth"] = growth
    report["load_average_at_end"] = load_average()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], metavar="N"
    )
    arguments = parser.parse_args()
    report = run(arguments.db, arguments.sizes)
    write_report(f"diversity-detection-{arguments.db}", report)


if __name__ == "__main__":
    main()
