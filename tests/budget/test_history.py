"""GET /v1/budget/history: newest first, insertion order on ties, cursors and time windows."""

from datetime import timedelta, timezone

from fastapi.testclient import TestClient

from tests.api_helpers import adjust_budget, set_budget, walk_pages
from tests.support import ManualClock

HISTORY = "/v1/budget/history"


def ids(items: list[dict[str, object]]) -> list[object]:
    return [item["id"] for item in items]


def test_history_is_empty_without_records(client: TestClient) -> None:
    response = client.get(HISTORY)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


def test_history_is_newest_first(client: TestClient, clock: ManualClock) -> None:
    written = []
    for value in (0.1, 0.2, 0.3):
        written.append(set_budget(client, "job-a", value))
        clock.advance(60)
    page = client.get(HISTORY, params={"job_hash": "job-a"}).json()
    assert page["items"] == list(reversed(written))
    assert page["next_cursor"] is None


def test_history_ties_are_ordered_by_insertion_newest_first(client: TestClient) -> None:
    written = [set_budget(client, "job-a", value) for value in (0.3, 0.1, 0.2, 0.1)]
    page = client.get(HISTORY, params={"job_hash": "job-a"}).json()
    assert ids(page["items"]) == ids(list(reversed(written)))


def test_history_limit_cuts_the_page_and_offers_a_cursor(client: TestClient) -> None:
    written = [set_budget(client, "job-a", 0.1 + i / 100) for i in range(5)]
    page = client.get(HISTORY, params={"limit": 2}).json()
    assert ids(page["items"]) == ids(written[::-1][:2])
    assert isinstance(page["next_cursor"], str)
    assert page["next_cursor"]


def test_history_paging_walks_tied_records_exactly_once(client: TestClient) -> None:
    written = [set_budget(client, "job-a", 0.1 + i / 100) for i in range(7)]
    items, pages = walk_pages(client, HISTORY, {"job_hash": "job-a", "limit": 3})
    assert pages == 3
    assert ids(items) == ids(written[::-1])


def test_history_paging_walks_mixed_times_exactly_once(
    client: TestClient, clock: ManualClock
) -> None:
    written = []
    for i in range(9):
        written.append(adjust_budget(client, f"job-{i % 2}", 0.5))
        if i % 3 == 2:
            clock.advance(1)
    items, pages = walk_pages(client, HISTORY, {"limit": 2})
    assert pages == 5
    assert ids(items) == ids(written[::-1])
    assert len(set(ids(items))) == 9


def test_history_paging_with_a_limit_equal_to_the_total_has_one_page(
    client: TestClient,
) -> None:
    for _ in range(3):
        set_budget(client, "job-a", 0.2)
    page = client.get(HISTORY, params={"limit": 3}).json()
    assert len(page["items"]) == 3
    assert page["next_cursor"] is None


def test_history_per_job_excludes_other_jobs(client: TestClient) -> None:
    a1 = set_budget(client, "job-a", 0.1)
    set_budget(client, "job-b", 0.2)
    a2 = set_budget(client, "job-a", 0.3)
    set_budget(client, "job-b", 0.4)
    page = client.get(HISTORY, params={"job_hash": "job-a"}).json()
    assert ids(page["items"]) == [a2["id"], a1["id"]]


def test_history_without_job_covers_all_jobs(client: TestClient) -> None:
    written = [set_budget(client, job, 0.2) for job in ("job-a", "job-b", "job-a", "job-c")]
    assert ids(client.get(HISTORY).json()["items"]) == ids(written[::-1])
    assert ids(client.get(HISTORY, params={"job_hash": ""}).json()["items"]) == ids(written[::-1])


def _records_at_four_times(client: TestClient, clock: ManualClock) -> list[dict[str, object]]:
    """One record at t0, t0+10s, t0+20s and t0+30s."""
    written = []
    for _ in range(4):
        written.append(set_budget(client, "job-a", 0.2))
        clock.advance(10)
    return written


def test_history_since_is_inclusive_and_until_exclusive(
    client: TestClient, clock: ManualClock
) -> None:
    start = clock.now
    written = _records_at_four_times(client, clock)
    params = {
        "since": (start + timedelta(seconds=10)).isoformat(),
        "until": (start + timedelta(seconds=30)).isoformat(),
    }
    page = client.get(HISTORY, params=params).json()
    assert ids(page["items"]) == [written[2]["id"], written[1]["id"]]


def test_history_since_alone_keeps_everything_from_then_on(
    client: TestClient, clock: ManualClock
) -> None:
    start = clock.now
    written = _records_at_four_times(client, clock)
    page = client.get(HISTORY, params={"since": (start + timedelta(seconds=20)).isoformat()})
    assert ids(page.json()["items"]) == [written[3]["id"], written[2]["id"]]


def test_history_until_alone_keeps_everything_before(
    client: TestClient, clock: ManualClock
) -> None:
    start = clock.now
    written = _records_at_four_times(client, clock)
    page = client.get(HISTORY, params={"until": (start + timedelta(seconds=10)).isoformat()})
    assert ids(page.json()["items"]) == [written[0]["id"]]


def test_history_time_window_accepts_a_non_utc_offset(
    client: TestClient, clock: ManualClock
) -> None:
    start = clock.now
    written = _records_at_four_times(client, clock)
    plus_two = timezone(timedelta(hours=2))
    since = (start + timedelta(seconds=10)).astimezone(plus_two).isoformat()
    until = (start + timedelta(seconds=20)).astimezone(plus_two).isoformat()
    page = client.get(HISTORY, params={"since": since, "until": until})
    assert ids(page.json()["items"]) == [written[1]["id"]]


def test_history_time_window_with_z_suffix(client: TestClient, clock: ManualClock) -> None:
    start = clock.now
    written = _records_at_four_times(client, clock)
    since = (start + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = client.get(HISTORY, params={"since": since})
    assert ids(page.json()["items"]) == [written[3]["id"]]


def test_history_paging_inside_a_time_window(client: TestClient, clock: ManualClock) -> None:
    set_budget(client, "job-a", 0.2)
    clock.advance(10)
    inside = [set_budget(client, "job-a", 0.2) for _ in range(5)]
    clock.advance(10)
    set_budget(client, "job-a", 0.2)
    window_start = clock.now - timedelta(seconds=10)
    items, _ = walk_pages(
        client,
        HISTORY,
        {"since": window_start.isoformat(), "until": clock.now.isoformat(), "limit": 2},
    )
    assert ids(items) == ids(inside[::-1])


def test_history_items_have_the_record_shape(client: TestClient) -> None:
    record = adjust_budget(client, "job-a", 0.4)
    item = client.get(HISTORY).json()["items"][0]
    assert item == record
    assert set(item) == {
        "id",
        "job_hash",
        "recorded_at",
        "budget_value",
        "entropy_at_time",
        "adjustment_type",
        "adjustment_reason",
    }
