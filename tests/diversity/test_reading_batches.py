"""A batch of readings without `entropy` measures every job's policy scope at the batch's time,
each agreeing with the definition (tests/diversity/reference.py), in a fixed number of queries
however many jobs it holds: one for the jobs' counts, one per half-life for their weights."""

import json
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from app.core import idempotency
from app.core.db import Database, create_db_engine
from app.core.settings import Settings
from app.jobs.readings import Reading, Submission, record_readings
from app.jobs.router import reading_response
from app.jobs.schemas import PolicyChanges
from tests.diversity.reference import (
    agrees,
    expected_metrics,
    stored_applications,
    stored_pattern_ids,
)
from tests.orchestrator.helpers import create_pattern, store_policy
from tests.patterns.helpers import post_batch
from tests.support import ManualClock

PATTERNS = [f"p{n}" for n in range(8)]
JOBS = [f"job-{n:02d}" for n in range(12)]
POLICIES: list[dict[str, Any]] = [
    {"scope": "job", "half_life_seconds": 300},
    {"scope": "job", "half_life_seconds": 3600},
    {"scope": "job", "half_life_seconds": None},
    {"scope": "global", "half_life_seconds": 300},
    {"scope": "global", "half_life_seconds": None},
]


def random_history(client: TestClient, clock: ManualClock, rng: random.Random) -> None:
    """Applications of every job (and none) over two hours, each job skewed its own way."""
    for pattern_id in PATTERNS:
        create_pattern(client, pattern_id)
    for _ in range(40):
        items = [
            {
                "pattern_id": rng.choice(PATTERNS[: rng.randint(1, len(PATTERNS))]),
                "execution_id": f"exec-{rng.randrange(10**9)}",
                "pattern_led_to_success": rng.random() < 0.5,
                **({"job_hash": rng.choice(JOBS)} if rng.random() < 0.9 else {}),
            }
            for _ in range(rng.randint(1, 30))
        ]
        assert post_batch(client, items).status_code == 201
        clock.advance(rng.choice([1, 60, 600]))


@contextmanager
def statements_on(engine: Engine) -> Iterator[Counter[str]]:
    """How many SELECTs read each diversity table while the block runs."""
    counted: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        for table in ("job_pattern_counts", "diversity_weights"):
            if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
                counted[table] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_batch_measures_each_jobs_scope_exactly_in_a_fixed_number_of_queries(
    client: TestClient, settings: Settings, clock: ManualClock, engine: Engine
) -> None:
    rng = random.Random(5)
    random_history(client, clock, rng)
    scopes = {job: rng.choice(POLICIES) for job in JOBS}
    for job, scope in scopes.items():
        store_policy(client, {"diversity": scope}, job_hash=job)
    # Each job twice, some readings overriding their job's scope for themselves.
    readings = []
    for job in JOBS * 2:
        override = rng.choice([None, None, rng.choice(POLICIES)])
        changes = (
            None if override is None else PolicyChanges.model_validate({"diversity": override})
        )
        readings.append((Reading(job, None, changes), override or scopes[job]))
    rng.shuffle(readings)
    clock.advance(120)

    database = Database(create_db_engine(settings))
    try:
        with statements_on(database.engine) as statements:
            answers = record_readings(
                database,
                settings,
                clock,
                reading_response,
                [Submission(reading, "anonymous", None, None) for reading, _ in readings],
                batched=True,
            )
    finally:
        database.dispose()

    applications = stored_applications(engine)
    pattern_ids = stored_pattern_ids(engine)
    for answer, (reading, scope) in zip(answers, readings, strict=True):
        assert isinstance(answer, idempotency.StoredResponse), answer
        assert answer.status_code == 201
        diversity = json.loads(answer.body)["diversity"]
        job_hash = reading.job_hash if scope["scope"] == "job" else None
        assert diversity["scope"] == {
            "job_hash": job_hash,
            "half_life_seconds": scope["half_life_seconds"],
        }
        reference = expected_metrics(
            applications,
            pattern_ids,
            job_hash=job_hash,
            half_life_seconds=scope["half_life_seconds"],
            at=clock.now,
        )
        assert reference["total_applications"] > 0
        for figure in ("diversity_index", "effective_pattern_count", "weighted_applications"):
            assert agrees(diversity[figure], reference[figure]), (figure, diversity, reference)
    half_lives = {scope["half_life_seconds"] for _, scope in readings} - {None}
    assert statements == {"job_pattern_counts": 1, "diversity_weights": len(half_lives)}
