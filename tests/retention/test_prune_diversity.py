"""Pruning applications leaves diversity alone: every scope (global and each job, all-time and
every registered half-life) reads the same before and after a pass, and both agree with the
definition computed by brute force over the applications as they were before pruning
(tests/diversity/reference.py). Writers after the pass keep the whole-life figures."""

import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.db import Database
from app.core.settings import Settings
from app.retention import service as retention
from tests.api_helpers import row_count
from tests.diversity.reference import (
    Application,
    assert_scope_agrees,
    microseconds,
    stored_applications,
    stored_pattern_ids,
)
from tests.diversity.test_exactness import JOBS, measured, record_random_batch
from tests.diversity.test_half_lives import registered
from tests.patterns.helpers import create_patterns, post_batch
from tests.support import ManualClock

KEPT_SECONDS = 600
"""How long applications are kept: twice the shortest half-life, so what a pass removes still
weighs enough in every scope for a decrement to show."""

Scope = tuple[str | None, int | None]


def every_scope(client: TestClient, engine: Engine) -> dict[Scope, dict[str, Any]]:
    return {
        (job_hash, half_life): measured(client, job_hash, half_life)
        for job_hash in (None, *JOBS)
        for half_life in (None, *registered(engine))
    }


def assert_agrees_with_reference(
    figures: dict[Scope, dict[str, Any]],
    applications: list[Application],
    pattern_ids: list[str],
    clock: ManualClock,
) -> None:
    for (job_hash, half_life), body in figures.items():
        assert_scope_agrees(
            body,
            applications,
            pattern_ids,
            job_hash=job_hash,
            half_life_seconds=half_life,
            at=clock.now,
        )


def prune_applications(engine: Engine, settings: Settings, clock: ManualClock) -> int:
    """One real pass keeping applications KEPT_SECONDS (with the shortest Idempotency-Key
    lifetime, which would otherwise keep them a day); returns how many it removed."""
    configured = settings.model_copy(
        update={
            "retention_days_applications": KEPT_SECONDS / 86_400,
            "idempotency_ttl_seconds": 60,
            "retention_batch_size": 7,
            "retention_batch_pause_seconds": 0,
        }
    )
    report = {p.table: p.rows for p in retention.prune(Database(engine), configured, clock)}
    return report["pattern_applications"]


@pytest.mark.parametrize("seed", [1, 2])
def test_pruning_applications_changes_no_diversity_figure_in_any_scope(
    client: TestClient, engine: Engine, clock: ManualClock, settings: Settings, seed: int
) -> None:
    rng = random.Random(seed)
    pattern_ids = [f"p{index:02d}" for index in range(10)]
    create_patterns(client, *pattern_ids, "retired")
    # A pattern job-a applied only long ago: pruned away entirely, it still counts for job-a.
    retired = [
        {
            "pattern_id": "retired",
            "execution_id": f"old-{n}",
            "pattern_led_to_success": True,
            "job_hash": "job-a",
        }
        for n in range(5)
    ]
    assert post_batch(client, retired).status_code == 201
    for _ in range(30):  # some forty minutes, most of it older than KEPT_SECONDS
        record_random_batch(client, rng, pattern_ids)
        clock.advance(rng.choice([0, rng.uniform(0, 300)]))
    unpruned = stored_applications(engine)
    patterns = stored_pattern_ids(engine)
    before = every_scope(client, engine)

    removed = prune_applications(engine, settings, clock)

    left = row_count(engine, "pattern_applications")
    assert 0 < removed == len(unpruned) - left
    assert left > 0, "the pass keeps the recent applications"
    after = every_scope(client, engine)
    assert after == before
    assert_agrees_with_reference(after, unpruned, patterns, clock)
    assert "retired" not in {a.pattern_id for a in stored_applications(engine)}

    # Time goes on and writers add to the whole-life figures, not to what was retained.
    pruned_at = microseconds(clock.now)
    clock.advance(1)
    for _ in range(5):
        record_random_batch(client, rng, pattern_ids)
        clock.advance(rng.uniform(0, 300))
    newer = [a for a in stored_applications(engine) if a.applied_us > pruned_at]
    assert newer
    assert_agrees_with_reference(every_scope(client, engine), unpruned + newer, patterns, clock)
