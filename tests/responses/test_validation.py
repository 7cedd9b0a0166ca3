"""Bad trigger bodies: 422 problem+json with `errors`, and nothing written or touched."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api_helpers import (
    JSON_HEADERS,
    assert_problem,
    assert_validation_problem,
    create_pattern,
    get_pattern,
    row_count,
    set_budget,
)

RESPONSES = "/v1/entropy-responses"
GOOD_TRIGGER: dict[str, Any] = {
    "job_hash": "job-a",
    "entropy_at_trigger": 0.1,
    "threshold_used": 0.3,
}


def body_with(
    trigger: dict[str, Any] | None = None, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"trigger": {**GOOD_TRIGGER, **(trigger or {})}}
    if config is not None:
        body["config"] = config
    return body


@pytest.fixture
def quarantined(client: TestClient) -> dict[str, Any]:
    """A quarantined pattern a successful response would revisit."""
    return create_pattern(client, "q1", "quarantined")


def assert_nothing_written(client: TestClient, engine: Engine, quarantined: dict[str, Any]) -> None:
    assert row_count(engine, "entropy_responses") == 0
    assert row_count(engine, "exploration_budget") == 0
    assert_problem(client.get(f"{RESPONSES}/latest"), 404)
    assert get_pattern(client, quarantined["id"]) == quarantined


@pytest.mark.parametrize(
    "trigger",
    [
        pytest.param({"job_hash": "job a"}, id="job-space"),
        pytest.param({"job_hash": "x" * 129}, id="job-129-chars"),
        pytest.param({"job_hash": ".."}, id="job-dot-dot"),
        pytest.param({"job_hash": "."}, id="job-dot"),
        pytest.param({"job_hash": ""}, id="job-empty"),
        pytest.param({"job_hash": None}, id="job-null"),
        pytest.param({"entropy_at_trigger": 1.5}, id="entropy-above-1"),
        pytest.param({"entropy_at_trigger": -0.01}, id="entropy-negative"),
        pytest.param({"entropy_at_trigger": "0.1"}, id="entropy-as-string"),
        pytest.param({"threshold_used": 1.01}, id="threshold-above-1"),
        pytest.param({"threshold_used": "0.3"}, id="threshold-as-string"),
        pytest.param({"threshold_used": None}, id="threshold-null"),
        pytest.param({"unexpected": True}, id="unknown-trigger-field"),
    ],
)
def test_bad_trigger_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, quarantined: dict[str, Any], trigger: dict[str, Any]
) -> None:
    assert_validation_problem(client.post(RESPONSES, json=body_with(trigger)))
    assert_nothing_written(client, engine, quarantined)


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"max_quarantine_revisits": 101}, id="revisits-above-100"),
        pytest.param({"max_quarantine_revisits": -1}, id="revisits-negative"),
        pytest.param({"max_quarantine_revisits": "3"}, id="revisits-as-string"),
        pytest.param({"max_quarantine_revisits": 2.5}, id="revisits-fraction"),
        pytest.param({"budget_floor": 0.6, "budget_ceiling": 0.4}, id="floor-above-ceiling"),
        pytest.param({"budget_floor": 0.6}, id="floor-above-default-ceiling"),
        pytest.param({"budget_floor": -0.1}, id="floor-negative"),
        pytest.param({"budget_ceiling": 1.5}, id="ceiling-above-1"),
        pytest.param({"budget_boost_amount": 1.5}, id="boost-above-1"),
        pytest.param({"budget_boost_amount": -0.1}, id="boost-negative"),
        pytest.param({"budget_boost_amount": "0.1"}, id="boost-as-string"),
        pytest.param({"boost_budget": "yes"}, id="boost-flag-as-string"),
        pytest.param({"boost_budget": 1}, id="boost-flag-as-number"),
        pytest.param({"revisit_quarantine": None}, id="revisit-flag-null"),
        pytest.param({"unexpected": 1}, id="unknown-config-field"),
    ],
)
def test_bad_config_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, quarantined: dict[str, Any], config: dict[str, Any]
) -> None:
    assert_validation_problem(client.post(RESPONSES, json=body_with(config=config)))
    assert_nothing_written(client, engine, quarantined)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty-object"),
        pytest.param({"config": {}}, id="trigger-missing"),
        pytest.param({"trigger": None}, id="trigger-null"),
        pytest.param({"trigger": {"job_hash": "job-a"}}, id="trigger-incomplete"),
        pytest.param({**body_with(), "extra": 1}, id="unknown-top-level-field"),
        pytest.param({**GOOD_TRIGGER}, id="trigger-fields-at-top-level"),
        pytest.param({"trigger": GOOD_TRIGGER, "config": []}, id="config-as-list"),
    ],
)
def test_malformed_body_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, quarantined: dict[str, Any], body: dict[str, Any]
) -> None:
    assert_validation_problem(client.post(RESPONSES, json=body))
    assert_nothing_written(client, engine, quarantined)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            '{"trigger":{"job_hash":"job-a","entropy_at_trigger":NaN,"threshold_used":0.3}}',
            id="nan-entropy",
        ),
        pytest.param(
            '{"trigger":{"job_hash":"job-a","entropy_at_trigger":0.1,"threshold_used":Infinity}}',
            id="infinite-threshold",
        ),
        pytest.param(
            '{"trigger":{"job_hash":"job-a","entropy_at_trigger":0.1,"threshold_used":0.3},'
            '"config":{"budget_ceiling":NaN}}',
            id="nan-ceiling",
        ),
        pytest.param(
            '{"trigger":{"job_hash":"job-a","entropy_at_trigger":0.1,"threshold_used":0.3},'
            '"config":{"budget_boost_amount":-Infinity}}',
            id="minus-infinite-boost",
        ),
        pytest.param('{"trigger":', id="truncated-json"),
        pytest.param("", id="empty-body"),
    ],
)
def test_unreadable_or_non_finite_body_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, quarantined: dict[str, Any], raw: str
) -> None:
    assert_validation_problem(client.post(RESPONSES, content=raw, headers=JSON_HEADERS))
    assert_nothing_written(client, engine, quarantined)


def test_floor_above_ceiling_leaves_the_budget_and_patterns_alone(
    client: TestClient, engine: Engine, quarantined: dict[str, Any]
) -> None:
    budget = set_budget(client, "job-a", 0.2)
    response = client.post(
        RESPONSES, json=body_with(config={"budget_floor": 0.5, "budget_ceiling": 0.2})
    )
    problem = assert_validation_problem(response)
    assert "floor" in problem["detail"]
    assert row_count(engine, "exploration_budget") == 1
    assert row_count(engine, "entropy_responses") == 0
    assert client.get("/v1/budget", params={"job_hash": "job-a"}).json() == budget
    assert get_pattern(client, quarantined["id"]) == quarantined


def test_max_quarantine_revisits_of_100_is_accepted(client: TestClient) -> None:
    response = client.post(RESPONSES, json=body_with(config={"max_quarantine_revisits": 100}))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("response_id", ["a b", "x" * 129, "job*"])
def test_response_by_malformed_id_is_422(client: TestClient, response_id: str) -> None:
    assert_validation_problem(client.get(f"{RESPONSES}/{response_id}"))


def test_body_over_one_mib_is_413_and_writes_nothing(
    client: TestClient, engine: Engine, quarantined: dict[str, Any]
) -> None:
    # A valid body padded with insignificant whitespace: only its size is wrong.
    content = json.dumps(body_with()) + " " * (1024 * 1024)
    response = client.post(RESPONSES, content=content, headers=JSON_HEADERS)
    assert_problem(response, 413)
    assert_nothing_written(client, engine, quarantined)
