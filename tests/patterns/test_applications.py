"""POST /v1/patterns/{id}/applications and GET /v1/pattern-applications/{id}."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.patterns.repository import PatternRepository
from tests.patterns.helpers import (
    application_body,
    apply_pattern,
    assert_problem,
    create_pattern,
    first_loc,
    get_pattern,
    nothing_written,
    parse_time,
    row_count,
)
from tests.support import ManualClock

APPLICATION_FIELDS = {
    "id",
    "pattern_id",
    "execution_id",
    "job_hash",
    "applied_at",
    "pattern_led_to_success",
    "retry_count_before",
    "retry_count_after",
    "grounding_confidence",
}


def test_application_is_201_with_a_location_that_serves_the_same_body(
    client: TestClient, clock: ManualClock
) -> None:
    create_pattern(client, id="p")
    clock.advance(7)
    response = client.post(
        "/v1/patterns/p/applications",
        json={
            "execution_id": "exec-42",
            "job_hash": "job-a",
            "pattern_led_to_success": True,
            "retry_count_before": 3,
            "retry_count_after": 1,
            "grounding_confidence": 0.75,
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == APPLICATION_FIELDS
    assert response.headers["location"] == f"/v1/pattern-applications/{body['id']}"
    assert client.get(response.headers["location"]).json() == body
    assert parse_time(body["applied_at"]) == clock.now
    assert {key: value for key, value in body.items() if key not in {"id", "applied_at"}} == {
        "pattern_id": "p",
        "execution_id": "exec-42",
        "job_hash": "job-a",
        "pattern_led_to_success": True,
        "retry_count_before": 3,
        "retry_count_after": 1,
        "grounding_confidence": 0.75,
    }


def test_optional_application_fields_take_their_defaults(client: TestClient) -> None:
    create_pattern(client, id="p")
    body = apply_pattern(client, "p", success=False)
    assert (body["job_hash"], body["grounding_confidence"]) == (None, None)
    assert (body["retry_count_before"], body["retry_count_after"]) == (0, 0)


def test_application_of_an_unknown_pattern_is_404_and_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    create_pattern(client, id="known")
    with nothing_written(engine):
        problem = assert_problem(
            client.post("/v1/patterns/ghost/applications", json=application_body()), 404
        )
    assert "ghost" in problem["detail"]
    assert row_count(engine, "pattern_applications") == 0


def test_unknown_application_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/v1/pattern-applications/no-such-application"), 404)


def test_application_moves_last_seen_and_counts_it(client: TestClient, clock: ManualClock) -> None:
    created = create_pattern(client, id="p")
    clock.advance(300)
    apply_pattern(client, "p", success=True)
    pattern = get_pattern(client, "p")
    assert pattern["first_seen"] == created["first_seen"]
    assert parse_time(pattern["last_seen"]) == clock.now
    assert (pattern["application_count"], pattern["success_count"]) == (1, 1)


def test_failures_and_unknown_outcomes_count_as_applications_not_successes(
    client: TestClient,
) -> None:
    create_pattern(client, id="p")
    for outcome in (True, False, None, True, None):
        apply_pattern(client, "p", success=outcome)
    pattern = get_pattern(client, "p")
    assert (pattern["application_count"], pattern["success_count"]) == (5, 2)


def test_unknown_outcome_is_stored_as_null(client: TestClient) -> None:
    create_pattern(client, id="p")
    body = apply_pattern(client, "p", success=None)
    assert body["pattern_led_to_success"] is None
    assert (
        client.get(f"/v1/pattern-applications/{body['id']}").json()["pattern_led_to_success"]
        is None
    )


def test_outcome_is_required_even_if_unknown(client: TestClient, engine: Engine) -> None:
    create_pattern(client, id="p")
    with nothing_written(engine):
        problem = assert_problem(
            client.post("/v1/patterns/p/applications", json={"execution_id": "e"}), 422
        )
    assert problem["errors"][0]["loc"] == ["body", "pattern_led_to_success"]


def test_applications_only_count_on_their_own_pattern(client: TestClient) -> None:
    create_pattern(client, id="a")
    create_pattern(client, id="b")
    apply_pattern(client, "a")
    apply_pattern(client, "a", success=False)
    a, b = get_pattern(client, "a"), get_pattern(client, "b")
    assert (a["application_count"], a["success_count"]) == (2, 1)
    assert (b["application_count"], b["success_count"], b["last_seen"]) == (
        0,
        0,
        b["first_seen"],
    )


def test_the_count_equals_the_application_rows(client: TestClient, engine: Engine) -> None:
    create_pattern(client, id="p")
    for _ in range(4):
        apply_pattern(client, "p")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT COUNT(*) FROM pattern_applications WHERE pattern_id = 'p'")
        ).scalar_one()
    assert rows == get_pattern(client, "p")["application_count"] == 4


def test_application_and_count_update_are_one_transaction(
    client: TestClient, clock: ManualClock, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after both writes leaves neither the application nor the new count."""
    create_pattern(client, id="p")
    record_uses = PatternRepository.record_uses

    def record_then_fail(self: PatternRepository, pattern_id: str, **kwargs: Any) -> None:
        record_uses(self, pattern_id, **kwargs)
        raise RuntimeError("failure after the count update")

    monkeypatch.setattr(PatternRepository, "record_uses", record_then_fail)
    clock.advance(60)
    failing_client = TestClient(client.app, raise_server_exceptions=False)
    with nothing_written(engine):
        response = failing_client.post("/v1/patterns/p/applications", json=application_body())
        assert_problem(response, 500)


def test_invalid_application_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    create_pattern(client, id="p")
    for field, value in [
        ("grounding_confidence", 1.5),
        ("grounding_confidence", -0.1),
        ("grounding_confidence", "0.5"),
        ("pattern_led_to_success", "yes"),
        ("pattern_led_to_success", 1),
        ("execution_id", ""),
        ("execution_id", "x" * 256),
        ("execution_id", None),
        ("job_hash", ""),
        ("job_hash", "a/b"),
    ]:
        with subtests.test(field=field, value=value), nothing_written(engine):
            response = client.post(
                "/v1/patterns/p/applications", json={**application_body(), field: value}
            )
            assert first_loc(assert_problem(response, 422))[:2] == ["body", field]
