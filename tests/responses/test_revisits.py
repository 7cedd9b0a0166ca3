"""Quarantine revisits of an entropy response: which patterns, in what order, how many."""

from fastapi.testclient import TestClient

from tests.api_helpers import apply_pattern, create_pattern, get_pattern, trigger_response
from tests.support import ManualClock

REVISIT_REASON = "Entropy response: revisiting for revalidation"


def quarantined_by_recency(client: TestClient, clock: ManualClock) -> list[str]:
    """Four quarantined patterns plus one of every other status; returns the quarantined ids,
    most recently seen first. Creation order differs from recency: an application moves
    `last_seen` of the oldest one to the front."""
    for pattern_id in ("q-old", "q-mid", "q-new", "q-bumped"):
        create_pattern(client, pattern_id, "quarantined")
        clock.advance(10)
    create_pattern(client, "pending-1", "pending")
    create_pattern(client, "validated-1", "validated")
    create_pattern(client, "retired-1", "retired")
    clock.advance(10)
    apply_pattern(client, "q-old")  # now the most recently seen
    clock.advance(10)
    return ["q-old", "q-bumped", "q-new", "q-mid"]


def status_of(client: TestClient, pattern_id: str) -> tuple[str, str | None]:
    pattern = get_pattern(client, pattern_id)
    return pattern["quarantine_status"], pattern["quarantine_reason"]


def test_response_revisits_quarantined_patterns_most_recently_seen_first(
    client: TestClient, clock: ManualClock
) -> None:
    expected = quarantined_by_recency(client, clock)[:3]
    record = trigger_response(client, "job-a")
    assert record["patterns_revisited"] == expected
    assert record["quarantine_revisits"] == 3
    assert record["actions_taken"] == ["budget_boost", "quarantine_revisit"]


def test_revisited_patterns_become_pending_with_the_revisit_reason(
    client: TestClient, clock: ManualClock
) -> None:
    order = quarantined_by_recency(client, clock)
    trigger_response(client, "job-a")
    for pattern_id in order[:3]:
        assert status_of(client, pattern_id) == ("pending", REVISIT_REASON)
    assert status_of(client, order[3]) == ("quarantined", None)


def test_revisits_leave_pending_validated_and_retired_patterns_untouched(
    client: TestClient, clock: ManualClock
) -> None:
    quarantined_by_recency(client, clock)
    before = {p: get_pattern(client, p) for p in ("pending-1", "validated-1", "retired-1")}
    trigger_response(client, "job-a", max_quarantine_revisits=100)
    after = {p: get_pattern(client, p) for p in before}
    assert after == before


def test_revisits_stop_at_max_quarantine_revisits(client: TestClient, clock: ManualClock) -> None:
    order = quarantined_by_recency(client, clock)
    record = trigger_response(client, "job-a", max_quarantine_revisits=1)
    assert record["patterns_revisited"] == order[:1]
    assert record["quarantine_revisits"] == 1
    assert [status_of(client, p)[0] for p in order] == [
        "pending",
        "quarantined",
        "quarantined",
        "quarantined",
    ]


def test_revisits_take_all_when_fewer_than_the_maximum(
    client: TestClient, clock: ManualClock
) -> None:
    order = quarantined_by_recency(client, clock)
    record = trigger_response(client, "job-a", max_quarantine_revisits=100)
    assert record["patterns_revisited"] == order
    assert record["quarantine_revisits"] == 4


def test_revisit_ties_on_last_seen_take_the_newest_inserted_first(client: TestClient) -> None:
    # The ManualClock does not move: all three patterns share first_seen and last_seen.
    for pattern_id in ("tie-1", "tie-2", "tie-3"):
        create_pattern(client, pattern_id, "quarantined")
    record = trigger_response(client, "job-a", max_quarantine_revisits=2)
    assert record["patterns_revisited"] == ["tie-3", "tie-2"]


def test_consecutive_responses_never_revisit_the_same_pattern(
    client: TestClient, clock: ManualClock
) -> None:
    order = quarantined_by_recency(client, clock)
    first = trigger_response(client, "job-a")
    second = trigger_response(client, "job-b")
    third = trigger_response(client, "job-a")
    assert first["patterns_revisited"] == order[:3]
    assert second["patterns_revisited"] == order[3:]
    assert second["actions_taken"] == ["budget_boost", "quarantine_revisit"]
    assert third["patterns_revisited"] == []
    assert third["quarantine_revisits"] == 0
    assert third["actions_taken"] == ["budget_boost"]


def test_no_quarantine_revisit_action_without_quarantined_patterns(client: TestClient) -> None:
    create_pattern(client, "p1", "pending")
    record = trigger_response(client, "job-a")
    assert record["actions_taken"] == ["budget_boost"]
    assert record["patterns_revisited"] == []
    assert record["quarantine_revisits"] == 0


def test_revisit_quarantine_false_touches_nothing(client: TestClient, clock: ManualClock) -> None:
    order = quarantined_by_recency(client, clock)
    before = [get_pattern(client, p) for p in order]
    record = trigger_response(client, "job-a", revisit_quarantine=False)
    assert record["patterns_revisited"] == []
    assert record["quarantine_revisits"] == 0
    assert record["actions_taken"] == ["budget_boost"]
    assert [get_pattern(client, p) for p in order] == before


def test_max_quarantine_revisits_zero_touches_nothing(
    client: TestClient, clock: ManualClock
) -> None:
    order = quarantined_by_recency(client, clock)
    before = [get_pattern(client, p) for p in order]
    record = trigger_response(client, "job-a", max_quarantine_revisits=0)
    assert record["patterns_revisited"] == []
    assert record["quarantine_revisits"] == 0
    assert "quarantine_revisit" not in record["actions_taken"]
    assert [get_pattern(client, p) for p in order] == before


def test_revisit_without_boost_has_only_the_revisit_action(
    client: TestClient, clock: ManualClock
) -> None:
    order = quarantined_by_recency(client, clock)
    record = trigger_response(client, "job-a", boost_budget=False, max_quarantine_revisits=2)
    assert record["actions_taken"] == ["quarantine_revisit"]
    assert record["budget_boosted"] is False
    assert record["patterns_revisited"] == order[:2]


def test_revisit_does_not_move_last_seen_or_counts(client: TestClient, clock: ManualClock) -> None:
    order = quarantined_by_recency(client, clock)
    before = get_pattern(client, order[0])
    trigger_response(client, "job-a")
    after = get_pattern(client, order[0])
    for field in ("last_seen", "first_seen", "application_count", "quarantined_at"):
        assert after[field] == before[field]


def test_revisits_show_in_the_stored_record(client: TestClient, clock: ManualClock) -> None:
    order = quarantined_by_recency(client, clock)
    record = trigger_response(client, "job-a", max_quarantine_revisits=2)
    stored = client.get(f"/v1/entropy-responses/{record['id']}").json()
    assert stored["patterns_revisited"] == order[:2]
    assert stored["actions_taken"] == ["budget_boost", "quarantine_revisit"]
