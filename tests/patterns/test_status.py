"""PATCH /v1/patterns/{id}: quarantine status, reason and the time stamps of entering a state."""

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.patterns.helpers import (
    assert_problem,
    create_pattern,
    get_pattern,
    nothing_written,
    parse_time,
)
from tests.support import ManualClock


def patch_status(client: TestClient, pattern_id: str, **body: Any) -> httpx.Response:
    return client.patch(f"/v1/patterns/{pattern_id}", json=body)


def set_status(client: TestClient, pattern_id: str, **body: Any) -> dict[str, Any]:
    response = patch_status(client, pattern_id, **body)
    assert response.status_code == 200, response.text
    updated: dict[str, Any] = response.json()
    assert get_pattern(client, pattern_id) == updated
    return updated


def test_patch_sets_status_and_reason(client: TestClient) -> None:
    create_pattern(client, id="p")
    body = set_status(client, "p", quarantine_status="retired", quarantine_reason="superseded")
    assert (body["quarantine_status"], body["quarantine_reason"]) == ("retired", "superseded")


def test_patch_without_a_reason_clears_it(client: TestClient) -> None:
    create_pattern(client, id="p")
    set_status(client, "p", quarantine_status="quarantined", quarantine_reason="flaky")
    body = set_status(client, "p", quarantine_status="pending")
    assert (body["quarantine_status"], body["quarantine_reason"]) == ("pending", None)


def test_patch_with_an_explicit_null_reason_clears_it(client: TestClient) -> None:
    create_pattern(client, id="p")
    set_status(client, "p", quarantine_status="retired", quarantine_reason="old")
    assert (
        set_status(client, "p", quarantine_status="retired", quarantine_reason=None)[
            "quarantine_reason"
        ]
        is None
    )


def test_entering_quarantined_stamps_quarantined_at_with_the_current_time(
    client: TestClient, clock: ManualClock
) -> None:
    created = create_pattern(client, id="p")
    clock.advance(90)
    body = set_status(client, "p", quarantine_status="quarantined")
    assert parse_time(body["quarantined_at"]) == clock.now
    assert body["validated_at"] is None
    assert (body["first_seen"], body["last_seen"]) == (created["first_seen"], created["last_seen"])


def test_entering_validated_stamps_validated_at_with_the_current_time(
    client: TestClient, clock: ManualClock
) -> None:
    create_pattern(client, id="p")
    clock.advance(45)
    body = set_status(client, "p", quarantine_status="validated")
    assert parse_time(body["validated_at"]) == clock.now
    assert body["quarantined_at"] is None


def test_re_entering_quarantine_moves_the_stamp_and_keeps_the_other(
    client: TestClient, clock: ManualClock
) -> None:
    create_pattern(client, id="p", quarantine_status="quarantined")
    first_quarantine = clock.now
    clock.advance(10)
    validated = set_status(client, "p", quarantine_status="validated")
    assert parse_time(validated["quarantined_at"]) == first_quarantine
    validated_time = clock.now
    clock.advance(10)
    requarantined = set_status(client, "p", quarantine_status="quarantined")
    assert parse_time(requarantined["quarantined_at"]) == clock.now
    assert parse_time(requarantined["validated_at"]) == validated_time


def test_other_states_stamp_nothing(client: TestClient, clock: ManualClock) -> None:
    create_pattern(client, id="p")
    for status in ("retired", "pending"):
        clock.advance(5)
        body = set_status(client, "p", quarantine_status=status)
        assert (body["quarantined_at"], body["validated_at"]) == (None, None), status


def test_patching_an_unknown_pattern_is_a_404_problem_that_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    create_pattern(client, id="known")
    with nothing_written(engine):
        assert_problem(patch_status(client, "ghost", quarantine_status="validated"), 404)


def test_invalid_patch_is_422_and_changes_nothing(
    client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    create_pattern(client, id="p")
    for body in (
        {},
        {"quarantine_status": "deleted"},
        {"quarantine_status": None},
        {"quarantine_status": "validated", "quarantine_reason": 5},
        {"quarantine_status": "validated", "extra": 1},
    ):
        with subtests.test(body=body), nothing_written(engine):
            assert_problem(patch_status(client, "p", **body), 422)
