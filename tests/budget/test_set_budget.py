"""POST /v1/budget: a budget set directly, clamped and relabelled outside floor..ceiling."""

import pytest
from fastapi.testclient import TestClient

from tests.api_helpers import assert_rfc3339_utc, set_budget
from tests.support import ManualClock


def test_set_budget_records_the_callers_fields(client: TestClient, clock: ManualClock) -> None:
    record = set_budget(
        client,
        "job-a",
        0.3,
        "boost",
        entropy_at_time=0.25,
        adjustment_reason="operator raised it",
    )
    assert record["job_hash"] == "job-a"
    assert record["budget_value"] == 0.3
    assert record["adjustment_type"] == "boost"
    assert record["entropy_at_time"] == 0.25
    assert record["adjustment_reason"] == "operator raised it"
    assert_rfc3339_utc(record["recorded_at"], clock.now)


def test_set_budget_optional_fields_default_to_null(client: TestClient) -> None:
    record = set_budget(client, "job-a", 0.3, "manual")
    assert record["entropy_at_time"] is None
    assert record["adjustment_reason"] is None


@pytest.mark.parametrize(
    "adjustment_type",
    ["initial", "decay", "boost", "floor_enforced", "ceiling_enforced", "manual"],
)
def test_set_budget_accepts_every_adjustment_type(client: TestClient, adjustment_type: str) -> None:
    assert set_budget(client, "job-a", 0.2, adjustment_type)["adjustment_type"] == adjustment_type


def test_set_budget_exactly_at_floor_keeps_the_callers_type(client: TestClient) -> None:
    record = set_budget(client, "job-a", 0.05, "manual", adjustment_reason="at the floor")
    assert record["budget_value"] == 0.05
    assert record["adjustment_type"] == "manual"
    assert record["adjustment_reason"] == "at the floor"


def test_set_budget_exactly_at_ceiling_keeps_the_callers_type(client: TestClient) -> None:
    record = set_budget(client, "job-a", 0.5, "boost", adjustment_reason="at the ceiling")
    assert record["budget_value"] == 0.5
    assert record["adjustment_type"] == "boost"
    assert record["adjustment_reason"] == "at the ceiling"


def test_set_budget_exactly_at_custom_bounds_keeps_the_callers_type(client: TestClient) -> None:
    low = set_budget(client, "job-a", 0.2, "decay", floor=0.2, ceiling=0.4)
    high = set_budget(client, "job-a", 0.4, "boost", floor=0.2, ceiling=0.4)
    assert (low["budget_value"], low["adjustment_type"]) == (0.2, "decay")
    assert (high["budget_value"], high["adjustment_type"]) == (0.4, "boost")


def test_set_budget_below_floor_is_relabelled_and_reason_overwritten(client: TestClient) -> None:
    record = set_budget(client, "job-a", 0.01, "manual", adjustment_reason="mine")
    assert record["budget_value"] == 0.05
    assert record["adjustment_type"] == "floor_enforced"
    assert record["adjustment_reason"] == "Budget 0.010 enforced to floor 0.050"


def test_set_budget_above_ceiling_is_relabelled_and_reason_overwritten(
    client: TestClient,
) -> None:
    record = set_budget(client, "job-a", 0.75, "boost", adjustment_reason="mine")
    assert record["budget_value"] == 0.5
    assert record["adjustment_type"] == "ceiling_enforced"
    assert record["adjustment_reason"] == "Budget 0.750 enforced to ceiling 0.500"


def test_set_budget_clamps_to_custom_bounds(client: TestClient) -> None:
    record = set_budget(client, "job-a", 0.9, "manual", floor=0.1, ceiling=0.6)
    assert record["budget_value"] == 0.6
    assert record["adjustment_reason"] == "Budget 0.900 enforced to ceiling 0.600"
    record = set_budget(client, "job-a", 0.0, "manual", floor=0.1, ceiling=0.6)
    assert record["budget_value"] == 0.1
    assert record["adjustment_reason"] == "Budget 0.000 enforced to floor 0.100"


def test_set_budget_with_equal_floor_and_ceiling_is_accepted(client: TestClient) -> None:
    record = set_budget(client, "job-a", 0.3, "manual", floor=0.3, ceiling=0.3)
    assert (record["budget_value"], record["adjustment_type"]) == (0.3, "manual")


def test_set_budget_answers_201_with_location_of_the_record(client: TestClient) -> None:
    response = client.post(
        "/v1/budget",
        json={"job_hash": "job-a", "budget_value": 0.2, "adjustment_type": "manual"},
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/budget/records/{body['id']}"
    fetched = client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_set_budget_becomes_the_current_budget(client: TestClient) -> None:
    set_budget(client, "job-a", 0.2)
    record = set_budget(client, "job-a", 0.35)
    assert client.get("/v1/budget", params={"job_hash": "job-a"}).json() == record
