"""GET /v1/budget/statistics: aggregates per job and over all jobs."""

import pytest
from fastapi.testclient import TestClient

from tests.api_helpers import adjust_budget, set_budget, trigger_response

STATISTICS = "/v1/budget/statistics"
EMPTY = {
    "current_budget": None,
    "avg_budget": 0,
    "min_budget": 0,
    "max_budget": 0,
    "total_adjustments": 0,
    "floor_enforcements": 0,
    "ceiling_enforcements": 0,
    "boost_count": 0,
    "decay_count": 0,
    "initial_count": 0,
}


def _write_job_a_history(client: TestClient) -> list[float]:
    """Every adjustment type, each a different number of times (initial 1, ceiling 2, decay 3,
    boost 4, floor 5, manual 1 and last), so no two counters can be confused; returns the
    values as stored."""
    adjust_budget(client, "job-a", 0.9, initial_budget=0.45)  # initial 0.45
    adjust_budget(client, "job-a", 0.1)  # 0.55 -> ceiling_enforced 0.5
    set_budget(client, "job-a", 0.7, "boost")  # ceiling_enforced 0.5
    adjust_budget(client, "job-a", 0.9)  # decay 0.475
    set_budget(client, "job-a", 0.3, "decay")
    set_budget(client, "job-a", 0.2, "decay")
    adjust_budget(client, "job-a", 0.1)  # boost 0.3
    for value in (0.25, 0.35, 0.4):
        set_budget(client, "job-a", value, "boost")
    for value in (0.01, 0.0, 0.02, 0.03, 0.04):
        set_budget(client, "job-a", value, "manual")  # floor_enforced 0.05
    set_budget(client, "job-a", 0.22, "manual")
    return [0.45, 0.5, 0.5, 0.475, 0.3, 0.2, 0.3, 0.25, 0.35, 0.4, *[0.05] * 5, 0.22]


def test_statistics_without_records_are_null_and_zero(client: TestClient) -> None:
    response = client.get(STATISTICS)
    assert response.status_code == 200
    assert response.json() == EMPTY


def test_statistics_for_a_job_without_records_are_null_and_zero(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9)
    assert client.get(STATISTICS, params={"job_hash": "job-b"}).json() == EMPTY


def test_statistics_of_one_job(client: TestClient) -> None:
    values = _write_job_a_history(client)
    adjust_budget(client, "job-b", 0.9)  # must not count for job-a
    stats = client.get(STATISTICS, params={"job_hash": "job-a"}).json()
    assert stats == {
        "current_budget": 0.22,
        "avg_budget": pytest.approx(sum(values) / len(values)),
        "min_budget": 0.05,
        "max_budget": 0.5,
        "total_adjustments": 16,
        "floor_enforcements": 5,
        "ceiling_enforcements": 2,
        "boost_count": 4,
        "decay_count": 3,
        "initial_count": 1,
    }


def test_statistics_over_all_jobs(client: TestClient) -> None:
    values = _write_job_a_history(client)
    adjust_budget(client, "job-b", 0.9)  # initial 0.15, the latest record overall
    values.append(0.15)
    expected = {
        "current_budget": 0.15,
        "avg_budget": pytest.approx(sum(values) / len(values)),
        "min_budget": 0.05,
        "max_budget": 0.5,
        "total_adjustments": 17,
        "floor_enforcements": 5,
        "ceiling_enforcements": 2,
        "boost_count": 4,
        "decay_count": 3,
        "initial_count": 2,
    }
    assert client.get(STATISTICS).json() == expected
    assert client.get(STATISTICS, params={"job_hash": ""}).json() == expected


def test_statistics_current_budget_is_the_last_inserted_on_a_timestamp_tie(
    client: TestClient,
) -> None:
    set_budget(client, "job-a", 0.4)
    set_budget(client, "job-a", 0.1)
    set_budget(client, "job-a", 0.3)
    stats = client.get(STATISTICS, params={"job_hash": "job-a"}).json()
    assert stats["current_budget"] == 0.3
    assert stats["min_budget"] == 0.1
    assert stats["max_budget"] == 0.4


def test_statistics_count_types_as_stored_after_clamping(client: TestClient) -> None:
    set_budget(client, "job-a", 0.9, "boost")  # stored as ceiling_enforced
    set_budget(client, "job-a", 0.0, "decay")  # stored as floor_enforced
    stats = client.get(STATISTICS, params={"job_hash": "job-a"}).json()
    assert (stats["boost_count"], stats["decay_count"]) == (0, 0)
    assert (stats["ceiling_enforcements"], stats["floor_enforcements"]) == (1, 1)
    assert stats["avg_budget"] == pytest.approx((0.5 + 0.05) / 2)


def test_statistics_count_entropy_response_boosts(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9)
    trigger_response(client, "job-a", revisit_quarantine=False)
    stats = client.get(STATISTICS, params={"job_hash": "job-a"}).json()
    assert (stats["initial_count"], stats["boost_count"], stats["total_adjustments"]) == (1, 1, 2)
    assert stats["current_budget"] == pytest.approx(0.25)
