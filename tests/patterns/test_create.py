"""POST /v1/patterns and GET /v1/patterns/{id}."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.patterns.helpers import (
    assert_problem,
    create_pattern,
    first_loc,
    get_pattern,
    nothing_written,
    parse_time,
    row_count,
)
from tests.support import ManualClock

PATTERN_FIELDS = (
    "id",
    "pattern_type",
    "pattern_name",
    "description",
    "quarantine_status",
    "quarantine_reason",
    "quarantined_at",
    "validated_at",
    "first_seen",
    "last_seen",
    "application_count",
    "success_count",
)


def test_created_pattern_is_201_with_a_location_that_serves_it(client: TestClient) -> None:
    response = client.post(
        "/v1/patterns",
        json={
            "id": "pat-1",
            "pattern_type": "retry",
            "pattern_name": "exponential backoff",
            "description": "waits longer each time",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == set(PATTERN_FIELDS)
    assert response.headers["location"] == "/v1/patterns/pat-1"
    assert client.get(response.headers["location"]).json() == body
    assert (body["id"], body["pattern_type"], body["pattern_name"], body["description"]) == (
        "pat-1",
        "retry",
        "exponential backoff",
        "waits longer each time",
    )
    assert (body["application_count"], body["success_count"]) == (0, 0)


def test_service_makes_a_uuid4_hex_id_when_none_is_given(client: TestClient) -> None:
    first = create_pattern(client)
    second = create_pattern(client)
    for made in (first["id"], second["id"]):
        assert len(made) == 32
        assert made == uuid.UUID(hex=made).hex  # lowercase hex, no dashes
        assert uuid.UUID(hex=made).version == 4
    assert first["id"] != second["id"]


def test_first_and_last_seen_are_the_creation_time(client: TestClient, clock: ManualClock) -> None:
    clock.advance(123.25)
    body = create_pattern(client)
    assert parse_time(body["first_seen"]) == clock.now
    assert parse_time(body["last_seen"]) == clock.now


def test_default_status_is_pending_with_no_stamps(client: TestClient) -> None:
    body = create_pattern(client)
    assert body["quarantine_status"] == "pending"
    assert (body["quarantine_reason"], body["quarantined_at"], body["validated_at"]) == (
        None,
        None,
        None,
    )


def test_created_quarantined_stamps_quarantined_at(client: TestClient, clock: ManualClock) -> None:
    clock.advance(60)
    body = create_pattern(client, quarantine_status="quarantined")
    assert body["quarantine_status"] == "quarantined"
    assert parse_time(body["quarantined_at"]) == clock.now
    assert body["validated_at"] is None


def test_same_id_again_is_a_409_problem_that_changes_nothing(
    client: TestClient, clock: ManualClock, engine: Engine
) -> None:
    original = create_pattern(client, id="dup", pattern_name="first")
    clock.advance(30)
    with nothing_written(engine):
        response = client.post(
            "/v1/patterns",
            json={
                "id": "dup",
                "pattern_type": "other",
                "pattern_name": "second",
                "quarantine_status": "quarantined",
            },
        )
        assert_problem(response, 409)
    assert get_pattern(client, "dup") == original
    assert row_count(engine, "patterns") == 1


def test_client_ids_of_the_identifier_alphabet_are_kept(client: TestClient) -> None:
    for pattern_id in ("a", "x" * 128, "Az09._:-", "job:1.2_beta-3", "..."):
        assert create_pattern(client, id=pattern_id)["id"] == pattern_id


def test_ids_outside_the_identifier_rule_are_422_and_write_nothing(
    client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    for pattern_id in ("", ".", "..", "x" * 129, "a b", "a/b", "\u00e9", "a\n", "a#b"):
        body = {"id": pattern_id, "pattern_type": "t", "pattern_name": "n"}
        with subtests.test(pattern_id=pattern_id), nothing_written(engine):
            problem = assert_problem(client.post("/v1/patterns", json=body), 422)
            assert first_loc(problem) == ["body", "id"]


def test_any_quarantine_status_may_be_given_at_creation(client: TestClient) -> None:
    for status in ("pending", "quarantined", "validated", "retired"):
        assert create_pattern(client, quarantine_status=status)["quarantine_status"] == status


def test_invalid_pattern_bodies_are_422_and_write_nothing(
    client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    for name, body in {
        "no type": {"pattern_name": "n"},
        "no name": {"pattern_type": "t"},
        "empty type": {"pattern_type": "", "pattern_name": "n"},
        "unknown status": {"pattern_type": "t", "pattern_name": "n", "quarantine_status": "gone"},
        "name too long": {"pattern_type": "t", "pattern_name": "x" * 256},
        "type too long": {"pattern_type": "x" * 256, "pattern_name": "n"},
    }.items():
        with subtests.test(name), nothing_written(engine):
            assert_problem(client.post("/v1/patterns", json=body), 422)


def test_unknown_pattern_is_a_404_problem(client: TestClient) -> None:
    create_pattern(client, id="known")
    problem = assert_problem(client.get("/v1/patterns/unknown"), 404)
    assert "unknown" in problem["detail"]
