"""Diversity over every scope agrees with the real-number definition, computed by brute force
from the stored applications (tests/diversity/reference.py), on random histories driven by a
test clock: long idle gaps, a clock jump far beyond what a fixed landmark could represent,
applications stamped after the time of measurement, and every registered half-life."""

import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.diversity.reference import (
    assert_scope_agrees,
    stored_applications,
    stored_pattern_ids,
)
from tests.patterns.helpers import create_patterns, post_batch
from tests.support import ManualClock

HALF_LIVES = (300, 3600, 86400)  # the registered defaults (DIVERSITY_HALF_LIVES)
JOBS = ("job-a", "job-b", "job-c")


def measured(client: TestClient, job_hash: str | None, half_life: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if job_hash is not None:
        params["job_hash"] = job_hash
    if half_life is not None:
        params["half_life_seconds"] = half_life
    response = client.get("/v1/pattern-entropy", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["scope"] == {"job_hash": job_hash, "half_life_seconds": half_life}
    return body


def assert_every_scope_agrees(client: TestClient, engine: Engine, clock: ManualClock) -> int:
    """Every scope (global and each job, all-time and each half-life) against the reference
    at the clock's time; returns how many scopes had applications."""
    applications = stored_applications(engine)
    pattern_ids = stored_pattern_ids(engine)
    populated = 0
    for job_hash in (None, *JOBS):
        for half_life in (None, *HALF_LIVES):
            reference = assert_scope_agrees(
                measured(client, job_hash, half_life),
                applications,
                pattern_ids,
                job_hash=job_hash,
                half_life_seconds=half_life,
                at=clock.now,
            )
            populated += reference["total_applications"] > 0
    return populated


def record_random_batch(client: TestClient, rng: random.Random, pattern_ids: list[str]) -> None:
    """A batch of 1-40 applications, skewed towards a few patterns, some without a job."""
    favourites = rng.sample(pattern_ids, 3)
    items = [
        {
            "pattern_id": rng.choice(favourites) if rng.random() < 0.6 else rng.choice(pattern_ids),
            "execution_id": f"exec-{rng.randrange(10**9)}",
            "pattern_led_to_success": rng.choice([True, False, None]),
            **({"job_hash": rng.choice(JOBS)} if rng.random() < 0.8 else {}),
        }
        for _ in range(rng.randint(1, 40))
    ]
    response = post_batch(client, items)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_scope_agrees_with_the_definition_over_a_random_history(
    client: TestClient, engine: Engine, clock: ManualClock, seed: int
) -> None:
    rng = random.Random(seed)
    pattern_ids = [f"p{index:02d}" for index in range(12)]
    create_patterns(client, *pattern_ids, "never-applied")
    checks = 0
    for step in range(40):
        record_random_batch(client, rng, pattern_ids)
        # Gaps from a microsecond to a few half-lives of the shortest, sometimes none at all.
        clock.advance(rng.choice([0, 0.000001, rng.uniform(0, 900), rng.uniform(0, 20_000)]))
        if step % 8 == 7:
            assert assert_every_scope_agrees(client, engine, clock) >= 8
            checks += 1
    assert checks == 5


def test_long_idle_gaps_and_an_overflowing_clock_jump(
    client: TestClient, engine: Engine, clock: ManualClock
) -> None:
    """100 half-lives of the longest half-life without an application, then a jump of 2,000
    of them (2**2000 overflows a float: a single fixed landmark could not survive it), then
    more applications: each row rescales itself, and every figure still agrees."""
    rng = random.Random(7)
    pattern_ids = [f"p{index}" for index in range(6)]
    create_patterns(client, *pattern_ids)
    for _ in range(10):
        record_random_batch(client, rng, pattern_ids)
        clock.advance(rng.uniform(0, 600))
    assert_every_scope_agrees(client, engine, clock)

    clock.advance(100 * max(HALF_LIVES))  # idle: the shares stay, the weights fade
    assert_every_scope_agrees(client, engine, clock)
    for _ in range(5):
        record_random_batch(client, rng, pattern_ids[:3])  # half the patterns live on
        clock.advance(rng.uniform(0, 600))
    assert_every_scope_agrees(client, engine, clock)

    clock.advance(2000 * max(HALF_LIVES))
    for _ in range(5):
        record_random_batch(client, rng, pattern_ids)
        clock.advance(rng.uniform(0, 600))
    assert_every_scope_agrees(client, engine, clock)
    with engine.connect() as connection:
        landmarks = connection.execute(
            text("SELECT count(DISTINCT landmark_us) FROM diversity_weights")
        ).scalar_one()
    assert landmarks > 1, "rows keep landmarks of their own"


def test_applications_stamped_after_the_time_of_measurement_weigh_more_than_one(
    client: TestClient, engine: Engine, clock: ManualClock
) -> None:
    """A measurement taken at T before some applications' time (another process's clock ran
    ahead) weighs them above 1, as the definition says."""
    create_patterns(client, "a", "b")
    post_batch(client, [{"pattern_id": "a", "execution_id": "e1", "pattern_led_to_success": True}])
    clock.advance(600)
    post_batch(client, [{"pattern_id": "b", "execution_id": "e2", "pattern_led_to_success": True}])
    clock.advance(-300)
    body = measured(client, None, 300)
    assert body["weighted_applications"] > 2  # b weighs 2, a weighs 0.5
    assert_every_scope_agrees(client, engine, clock)
