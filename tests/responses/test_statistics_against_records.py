"""Entropy-response statistics come from aggregates maintained on write; they must equal, on
every field, the statistics computed by scanning the responses (tests/statistics_reference.py),
for one job and for all jobs, whether the response was explicit or ran from a reading."""

import math
import random

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.db import Database
from app.responses.schemas import ResponseConfig, TriggerContext
from app.responses.service import trigger_response
from tests.statistics_reference import (
    assert_statistics_equal,
    random_history,
    read_records,
    response_scan,
)
from tests.support import ManualClock

STATISTICS = "/v1/entropy-responses/statistics"


@pytest.mark.parametrize("seed", [1, 2])
def test_statistics_equal_the_scan_of_a_random_history(
    client: TestClient, clock: ManualClock, engine: Engine, seed: int
) -> None:
    jobs = ["job-a", "job-b", "job-c"]
    random_history(client, clock, random.Random(seed), jobs, steps=150)
    with engine.connect() as connection:
        records = read_records(connection, "entropy_responses")
    assert any(r["quarantine_revisits"] for r in records)
    assert {r["budget_boosted"] for r in records} == {True, False}
    for job_hash in [*jobs, "job-never-written"]:
        answer = client.get(STATISTICS, params={"job_hash": job_hash}).json()
        assert_statistics_equal(answer, response_scan(records, job_hash))
    assert_statistics_equal(client.get(STATISTICS).json(), response_scan(records, None))


def test_the_average_keeps_the_digits_a_running_sum_loses(
    client: TestClient, engine: Engine, clock: ManualClock
) -> None:
    """Entropy 1.0, then 1,500 responses each below half a unit in the last place of 1.0, each
    its own write: the maintained average is within 1e-14 of math.fsum's, where a running sum
    is off by 1.6e-13."""
    values = [1.0] + [1.1e-16] * 1_500
    exact = math.fsum(values) / len(values)
    config = ResponseConfig(boost_budget=False, revisit_quarantine=False)
    with Database(engine).session(write=True) as session, session.begin():
        for value in values:
            trigger = TriggerContext(job_hash="job-a", entropy_at_trigger=value, threshold_used=0.3)
            trigger_response(session, clock, trigger, config)
    statistics = client.get(STATISTICS, params={"job_hash": "job-a"}).json()
    assert statistics["total_responses"] == len(values)
    assert statistics["avg_entropy_at_trigger"] == pytest.approx(exact, rel=1e-14, abs=0)
