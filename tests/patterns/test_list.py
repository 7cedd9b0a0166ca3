"""GET /v1/patterns: most recently seen first, status filter, keyset pages."""

from fastapi.testclient import TestClient

from tests.patterns.helpers import (
    apply_pattern,
    assert_problem,
    create_pattern,
    create_patterns,
    item_ids,
    walk_pages,
)
from tests.support import ManualClock


def test_most_recently_seen_pattern_comes_first(client: TestClient, clock: ManualClock) -> None:
    for pattern_id in ("a", "b", "c"):
        create_pattern(client, id=pattern_id)
        clock.advance(10)
    assert item_ids(client, "/v1/patterns") == ["c", "b", "a"]
    apply_pattern(client, "a")  # seen now, after c was created
    assert item_ids(client, "/v1/patterns") == ["a", "c", "b"]


def test_patterns_seen_at_the_same_time_list_newest_insertion_first(client: TestClient) -> None:
    create_patterns(client, "m", "z", "a", "k")  # ids out of alphabetical order on purpose
    assert item_ids(client, "/v1/patterns") == ["k", "a", "z", "m"]


def test_ties_after_an_application_keep_insertion_order(
    client: TestClient, clock: ManualClock
) -> None:
    create_patterns(client, "first", "second")
    clock.advance(5)
    create_pattern(client, id="third")  # last_seen = t+5
    apply_pattern(client, "first")  # last_seen = t+5 too: tie with "third"
    assert item_ids(client, "/v1/patterns") == ["third", "first", "second"]


def test_quarantine_status_filter_lists_only_that_status(
    client: TestClient, clock: ManualClock
) -> None:
    statuses = {"p1": "pending", "q1": "quarantined", "v1": "validated", "q2": "quarantined"}
    for pattern_id, status in statuses.items():
        create_pattern(client, id=pattern_id, quarantine_status=status)
        clock.advance(1)
    assert item_ids(client, "/v1/patterns", quarantine_status="quarantined") == ["q2", "q1"]
    assert item_ids(client, "/v1/patterns", quarantine_status="validated") == ["v1"]
    assert item_ids(client, "/v1/patterns", quarantine_status="retired") == []
    assert item_ids(client, "/v1/patterns") == ["q2", "v1", "q1", "p1"]


def test_limit_and_cursor_walk_every_pattern_exactly_once(
    client: TestClient, clock: ManualClock
) -> None:
    # Seven patterns in three time groups, so page boundaries fall inside groups of equal time.
    for group in (["g1a", "g1b", "g1c"], ["g2a", "g2b"], ["g3a", "g3b"]):
        create_patterns(client, *group)
        clock.advance(1)
    expected = ["g3b", "g3a", "g2b", "g2a", "g1c", "g1b", "g1a"]
    assert item_ids(client, "/v1/patterns") == expected
    pages = walk_pages(client, "/v1/patterns", limit=3)
    assert pages == [expected[:3], expected[3:6], expected[6:]]
    assert walk_pages(client, "/v1/patterns", limit=1) == [[i] for i in expected]
    assert walk_pages(client, "/v1/patterns", limit=7) == [expected]


def test_cursor_pages_respect_the_status_filter(client: TestClient) -> None:
    for index in range(5):
        create_pattern(client, id=f"q{index}", quarantine_status="quarantined")
        create_pattern(client, id=f"p{index}")
    pages = walk_pages(client, "/v1/patterns", limit=2, quarantine_status="quarantined")
    assert pages == [["q4", "q3"], ["q2", "q1"], ["q0"]]


def test_default_page_is_fifty_patterns(client: TestClient) -> None:
    create_patterns(client, *(f"p{index:02d}" for index in range(51)))
    response = client.get("/v1/patterns")
    body = response.json()
    assert len(body["items"]) == 50
    assert body["next_cursor"] is not None
    assert item_ids(client, "/v1/patterns", cursor=body["next_cursor"]) == ["p00"]


def test_empty_list_has_no_next_cursor(client: TestClient) -> None:
    assert client.get("/v1/patterns").json() == {"items": [], "next_cursor": None}


def test_unknown_status_filter_is_422(client: TestClient) -> None:
    for status in ("deleted", "PENDING", "pending "):
        response = client.get("/v1/patterns", params={"quarantine_status": status})
        assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "quarantine_status"]
