"""Budget statistics come from aggregates maintained on write; they must equal, on every
field, the statistics computed by scanning the records (tests/statistics_reference.py), for
one job and for all jobs, whichever writer wrote the records."""

import math
import random

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.budget.schemas import BudgetUpdate
from app.budget.service import set_budget
from app.core.db import Database
from tests.statistics_reference import (
    assert_statistics_equal,
    budget_scan,
    random_history,
    read_records,
)
from tests.support import ManualClock

STATISTICS = "/v1/budget/statistics"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_statistics_equal_the_scan_of_a_random_history(
    client: TestClient, clock: ManualClock, engine: Engine, seed: int
) -> None:
    jobs = ["job-a", "job-b", "job-c"]
    random_history(client, clock, random.Random(seed), jobs, steps=150)
    with engine.connect() as connection:
        records = read_records(connection, "exploration_budget")
    assert {r["adjustment_type"] for r in records} >= {"initial", "boost", "decay"}
    for job_hash in [*jobs, "job-never-written"]:
        answer = client.get(STATISTICS, params={"job_hash": job_hash}).json()
        assert_statistics_equal(answer, budget_scan(records, job_hash))
    assert_statistics_equal(client.get(STATISTICS).json(), budget_scan(records, None))


def test_the_average_keeps_the_digits_a_running_sum_loses(
    client: TestClient, engine: Engine, clock: ManualClock
) -> None:
    """1.0, then 1,500 records each below half a unit in the last place of 1.0, each its own
    write: a plain running sum never moves from 1.0 (off by 1.6e-13 relative); the maintained
    average is within 1e-14 of math.fsum's (stricter than the 1e-12 promised, so that 1,500
    writes are enough to tell the two apart)."""
    values = [1.0] + [1.1e-16] * 1_500
    exact = math.fsum(values) / len(values)
    running = 0.0
    for value in values:
        running += value
    assert running / len(values) != pytest.approx(exact, rel=1e-14, abs=0)
    with Database(engine).session(write=True) as session, session.begin():
        for value in values:
            update = BudgetUpdate(
                job_hash="job-a",
                budget_value=value,
                adjustment_type="manual",
                floor=0.0,
                ceiling=1.0,
            )
            set_budget(session, clock, update)
    average = client.get(STATISTICS, params={"job_hash": "job-a"}).json()["avg_budget"]
    assert average == pytest.approx(exact, rel=1e-14, abs=0)
