"""GET /v1/entropy-responses/latest, /history and /statistics."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api_helpers import (
    assert_problem,
    assert_rfc3339_utc,
    assert_validation_problem,
    create_pattern,
    trigger_response,
    walk_pages,
)
from tests.support import ManualClock

BASE = "/v1/entropy-responses"
HISTORY = f"{BASE}/history"
STATISTICS = f"{BASE}/statistics"


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# latest --------------------------------------------------------------------------------------


def test_latest_is_404_problem_when_none(client: TestClient) -> None:
    assert_problem(client.get(f"{BASE}/latest"), 404)
    assert_problem(client.get(f"{BASE}/latest", params={"job_hash": "job-a"}), 404)


def test_latest_is_404_for_a_job_without_responses(client: TestClient) -> None:
    trigger_response(client, "job-a")
    assert_problem(client.get(f"{BASE}/latest", params={"job_hash": "job-b"}), 404)


def test_latest_of_a_job(client: TestClient, clock: ManualClock) -> None:
    trigger_response(client, "job-a", 0.1)
    clock.advance(5)
    latest = trigger_response(client, "job-a", 0.2)
    clock.advance(5)
    trigger_response(client, "job-b", 0.05)
    response = client.get(f"{BASE}/latest", params={"job_hash": "job-a"})
    assert response.status_code == 200
    assert response.json() == latest


def test_latest_breaks_timestamp_ties_by_insertion(client: TestClient) -> None:
    trigger_response(client, "job-a", 0.1)
    trigger_response(client, "job-a", 0.2)
    latest = trigger_response(client, "job-a", 0.15)
    assert client.get(f"{BASE}/latest", params={"job_hash": "job-a"}).json() == latest


def test_latest_without_job_is_the_latest_over_all_jobs(client: TestClient) -> None:
    trigger_response(client, "job-b")
    latest = trigger_response(client, "job-a")
    assert client.get(f"{BASE}/latest").json() == latest
    assert client.get(f"{BASE}/latest", params={"job_hash": ""}).json() == latest


# history -------------------------------------------------------------------------------------


def test_history_is_empty_without_responses(client: TestClient) -> None:
    assert client.get(HISTORY).json() == {"items": [], "next_cursor": None}


def test_history_is_newest_first(client: TestClient, clock: ManualClock) -> None:
    written = []
    for entropy in (0.1, 0.2, 0.05):
        written.append(trigger_response(client, "job-a", entropy))
        clock.advance(100)
    page = client.get(HISTORY, params={"job_hash": "job-a"}).json()
    assert page == {"items": written[::-1], "next_cursor": None}


def test_history_ties_are_ordered_by_insertion_newest_first(client: TestClient) -> None:
    written = [trigger_response(client, "job-a", e) for e in (0.2, 0.1, 0.15)]
    assert ids(client.get(HISTORY).json()["items"]) == ids(written[::-1])


def test_history_paging_walks_tied_responses_exactly_once(client: TestClient) -> None:
    written = [trigger_response(client, "job-a", i / 10) for i in range(7)]
    items, pages = walk_pages(client, HISTORY, {"job_hash": "job-a", "limit": 2})
    assert pages == 4
    assert ids(items) == ids(written[::-1])
    assert len(set(ids(items))) == 7


def test_history_paging_walks_mixed_times_and_jobs_exactly_once(
    client: TestClient, clock: ManualClock
) -> None:
    written = []
    for i in range(8):
        written.append(trigger_response(client, f"job-{i % 3}"))
        if i % 2:
            clock.advance(1)
    items, pages = walk_pages(client, HISTORY, {"limit": 3})
    assert pages == 3
    assert ids(items) == ids(written[::-1])


def test_history_per_job_excludes_other_jobs(client: TestClient) -> None:
    a1 = trigger_response(client, "job-a")
    trigger_response(client, "job-b")
    a2 = trigger_response(client, "job-a")
    assert ids(client.get(HISTORY, params={"job_hash": "job-a"}).json()["items"]) == [
        a2["id"],
        a1["id"],
    ]


def test_history_since_is_inclusive_and_until_exclusive(
    client: TestClient, clock: ManualClock
) -> None:
    start = clock.now
    written = []
    for _ in range(4):
        written.append(trigger_response(client, "job-a"))
        clock.advance(60)
    params = {
        "since": (start + timedelta(seconds=60)).isoformat(),
        "until": (start + timedelta(seconds=180)).isoformat(),
    }
    assert ids(client.get(HISTORY, params=params).json()["items"]) == [
        written[2]["id"],
        written[1]["id"],
    ]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 1001}, id="limit-1001"),
        pytest.param({"limit": "x"}, id="limit-text"),
        pytest.param({"cursor": "%%%not-a-cursor"}, id="cursor-garbage"),
        pytest.param({"since": "2026-03-01T12:00:00"}, id="since-without-offset"),
        pytest.param({"until": "2026-03-01 12:00"}, id="until-without-offset"),
        pytest.param({"job_hash": "job a"}, id="job-space"),
        pytest.param({"job_hash": ".."}, id="job-dot-dot"),
    ],
)
def test_history_with_bad_parameters_is_422(client: TestClient, params: dict[str, Any]) -> None:
    assert_validation_problem(client.get(HISTORY, params=params))


# statistics ----------------------------------------------------------------------------------


def test_statistics_without_responses(client: TestClient) -> None:
    response = client.get(STATISTICS)
    assert response.status_code == 200
    assert response.json() == {
        "total_responses": 0,
        "avg_entropy_at_trigger": 0.0,
        "budget_boosts": 0,
        "quarantine_revisits": 0,
        "last_response": None,
    }


def _populate(client: TestClient, clock: ManualClock) -> dict[str, Any]:
    """job-a: a boosting response revisiting 3 patterns, then one without boost or revisits;
    job-b (latest overall): a boosting response revisiting the remaining 1. Revisit sums thus
    differ from response counts."""
    for pattern_id in ("q1", "q2", "q3", "q4"):
        create_pattern(client, pattern_id, "quarantined")
    trigger_response(client, "job-a", 0.1, max_quarantine_revisits=3)
    clock.advance(30)
    last_a = trigger_response(client, "job-a", 0.2, boost_budget=False, revisit_quarantine=False)
    clock.advance(30)
    last_b = trigger_response(client, "job-b", 0.25)
    return {"job-a": last_a, "job-b": last_b}


def test_statistics_of_one_job(client: TestClient, clock: ManualClock) -> None:
    latest = _populate(client, clock)
    stats = client.get(STATISTICS, params={"job_hash": "job-a"}).json()
    assert stats["total_responses"] == 2
    assert stats["avg_entropy_at_trigger"] == pytest.approx((0.1 + 0.2) / 2)
    assert stats["budget_boosts"] == 1
    assert stats["quarantine_revisits"] == 3
    assert_rfc3339_utc(stats["last_response"], clock.now - timedelta(seconds=30))
    assert stats["last_response"] == latest["job-a"]["recorded_at"]


def test_statistics_over_all_jobs(client: TestClient, clock: ManualClock) -> None:
    latest = _populate(client, clock)
    for params in ({}, {"job_hash": ""}):
        stats = client.get(STATISTICS, params=params).json()
        assert stats["total_responses"] == 3
        assert stats["avg_entropy_at_trigger"] == pytest.approx((0.1 + 0.2 + 0.25) / 3)
        assert stats["budget_boosts"] == 2
        assert stats["quarantine_revisits"] == 4
        assert_rfc3339_utc(stats["last_response"], clock.now)
        assert stats["last_response"] == latest["job-b"]["recorded_at"]


def test_statistics_for_a_job_without_responses(client: TestClient, clock: ManualClock) -> None:
    _populate(client, clock)
    assert client.get(STATISTICS, params={"job_hash": "job-c"}).json() == {
        "total_responses": 0,
        "avg_entropy_at_trigger": 0.0,
        "budget_boosts": 0,
        "quarantine_revisits": 0,
        "last_response": None,
    }


@pytest.mark.parametrize("job_hash", ["job a", "x" * 129, "..", "."])
@pytest.mark.parametrize("path", [f"{BASE}/latest", STATISTICS])
def test_reads_with_malformed_job_hash_are_422(
    client: TestClient, path: str, job_hash: str
) -> None:
    assert_validation_problem(client.get(path, params={"job_hash": job_hash}))
