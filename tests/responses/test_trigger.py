"""POST /v1/entropy-responses: the budget boost, the record, 201 + Location."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.api_helpers import (
    adjust_budget,
    assert_problem,
    assert_rfc3339_utc,
    row_count,
    set_budget,
    trigger_response,
)
from tests.support import ManualClock

BOOST_REASON = "Entropy response: diversity 0.100 < 0.300"


def current_budget(client: TestClient, job_hash: str) -> dict[str, object]:
    response = client.get("/v1/budget", params={"job_hash": job_hash})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_response_boosts_from_the_current_budget(client: TestClient) -> None:
    set_budget(client, "job-a", 0.2)
    trigger_response(client, "job-a", 0.1, 0.3)
    budget = current_budget(client, "job-a")
    assert budget["adjustment_type"] == "boost"
    assert budget["budget_value"] == pytest.approx(0.3)
    assert budget["adjustment_reason"] == BOOST_REASON
    assert budget["entropy_at_time"] == 0.1


def test_response_without_budget_starts_from_0_15(client: TestClient) -> None:
    trigger_response(client, "job-a", 0.1, 0.3)
    budget = current_budget(client, "job-a")
    assert budget["adjustment_type"] == "boost"
    assert budget["budget_value"] == pytest.approx(0.25)
    assert budget["adjustment_reason"] == BOOST_REASON


def test_response_reason_formats_entropy_and_threshold_to_three_decimals(
    client: TestClient,
) -> None:
    trigger_response(client, "job-a", 0.12345, 0.45678)
    reason = current_budget(client, "job-a")["adjustment_reason"]
    assert reason == "Entropy response: diversity 0.123 < 0.457"


def test_response_uses_the_configured_boost_amount(client: TestClient) -> None:
    set_budget(client, "job-a", 0.2)
    trigger_response(client, "job-a", budget_boost_amount=0.05)
    assert current_budget(client, "job-a")["budget_value"] == pytest.approx(0.25)


def test_response_boost_past_ceiling_is_ceiling_enforced(client: TestClient) -> None:
    set_budget(client, "job-a", 0.45)
    trigger_response(client, "job-a")
    budget = current_budget(client, "job-a")
    assert budget["budget_value"] == 0.5
    assert budget["adjustment_type"] == "ceiling_enforced"
    assert budget["adjustment_reason"] == "Budget 0.550 enforced to ceiling 0.500"


def test_response_boost_is_clamped_to_the_configured_ceiling(client: TestClient) -> None:
    trigger_response(client, "job-a", budget_ceiling=0.2)
    budget = current_budget(client, "job-a")
    assert budget["budget_value"] == 0.2
    assert budget["adjustment_type"] == "ceiling_enforced"
    assert budget["adjustment_reason"] == "Budget 0.250 enforced to ceiling 0.200"


def test_response_boost_below_the_configured_floor_is_floor_enforced(client: TestClient) -> None:
    trigger_response(client, "job-a", budget_floor=0.3)
    budget = current_budget(client, "job-a")
    assert budget["budget_value"] == 0.3
    assert budget["adjustment_type"] == "floor_enforced"
    assert budget["adjustment_reason"] == "Budget 0.250 enforced to floor 0.300"


def test_response_boost_exactly_at_ceiling_stays_a_boost(client: TestClient) -> None:
    set_budget(client, "job-a", 0.25)
    trigger_response(client, "job-a", budget_boost_amount=0.25)
    budget = current_budget(client, "job-a")
    assert (budget["budget_value"], budget["adjustment_type"]) == (0.5, "boost")


def test_response_boosts_only_its_own_job(client: TestClient) -> None:
    job_b = set_budget(client, "job-b", 0.2)
    trigger_response(client, "job-a")
    assert current_budget(client, "job-b") == job_b


def test_response_record_fields(client: TestClient, clock: ManualClock) -> None:
    record = trigger_response(client, "job-a", 0.1, 0.3)
    assert record["job_hash"] == "job-a"
    assert record["entropy_at_trigger"] == 0.1
    assert record["threshold_used"] == 0.3
    assert record["actions_taken"] == ["budget_boost"]
    assert record["budget_boosted"] is True
    assert record["quarantine_revisits"] == 0
    assert record["patterns_revisited"] == []
    assert_rfc3339_utc(record["recorded_at"], clock.now)


def test_response_budget_record_continues_the_job_chain(client: TestClient, engine: Engine) -> None:
    adjust_budget(client, "job-a", 0.5)
    trigger_response(client, "job-a")
    adjust_budget(client, "job-a", 0.5)
    with engine.connect() as connection:
        seqs = connection.execute(
            text("SELECT job_seq FROM exploration_budget WHERE job_hash = 'job-a' ORDER BY seq")
        ).scalars()
        assert list(seqs) == [1, 2, 3]


def test_response_without_boost_writes_no_budget_record(client: TestClient, engine: Engine) -> None:
    record = trigger_response(client, "job-a", boost_budget=False)
    assert record["budget_boosted"] is False
    assert "budget_boost" not in record["actions_taken"]
    assert record["actions_taken"] == []
    assert row_count(engine, "exploration_budget") == 0
    assert row_count(engine, "entropy_responses") == 1


def test_response_without_boost_leaves_the_budget_unchanged(client: TestClient) -> None:
    before = set_budget(client, "job-a", 0.2)
    trigger_response(client, "job-a", boost_budget=False)
    assert current_budget(client, "job-a") == before


def test_response_answers_201_with_location_of_the_record(client: TestClient) -> None:
    response = client.post(
        "/v1/entropy-responses",
        json={"trigger": {"job_hash": "job-a", "entropy_at_trigger": 0.1, "threshold_used": 0.3}},
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/entropy-responses/{body['id']}"
    fetched = client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_unknown_response_id_is_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/v1/entropy-responses/no-such-response"), 404)


def test_response_with_explicit_default_config_equals_the_implicit_one(
    client: TestClient,
) -> None:
    implicit = trigger_response(client, "job-a")
    explicit = trigger_response(
        client,
        "job-b",
        boost_budget=True,
        revisit_quarantine=True,
        max_quarantine_revisits=3,
        budget_floor=0.05,
        budget_ceiling=0.5,
        budget_boost_amount=0.1,
    )
    keep = ("actions_taken", "budget_boosted", "quarantine_revisits", "patterns_revisited")
    assert {k: implicit[k] for k in keep} == {k: explicit[k] for k in keep}
    assert (
        current_budget(client, "job-a")["budget_value"]
        == current_budget(client, "job-b")["budget_value"]
    )
