"""Bad input on the budget endpoints: 422 problem+json with `errors`, and nothing written."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api_helpers import (
    JSON_HEADERS,
    adjust_budget,
    assert_problem,
    assert_validation_problem,
    row_count,
)

ADJUSTMENTS = "/v1/budget/adjustments"
BUDGET = "/v1/budget"
GOOD_ADJUSTMENT: dict[str, Any] = {"job_hash": "job-a", "current_entropy": 0.5}
GOOD_UPDATE: dict[str, Any] = {
    "job_hash": "job-a",
    "budget_value": 0.2,
    "adjustment_type": "manual",
}


def assert_nothing_written(client: TestClient, engine: Engine) -> None:
    assert row_count(engine, "exploration_budget") == 0
    assert_problem(client.get(BUDGET), 404)


BAD_JOB_HASHES = [
    pytest.param("job a", id="space"),
    pytest.param("x" * 129, id="129-chars"),
    pytest.param("..", id="dot-dot"),
    pytest.param(".", id="dot"),
    pytest.param("", id="empty"),
    pytest.param("job/a", id="slash"),
    pytest.param("jöb", id="non-ascii"),
    pytest.param("job\u0000", id="nul"),
    pytest.param(None, id="null"),
    pytest.param(7, id="number"),
]


@pytest.mark.parametrize("job_hash", BAD_JOB_HASHES)
def test_adjustment_with_malformed_job_hash_is_422(
    client: TestClient, engine: Engine, job_hash: object
) -> None:
    response = client.post(ADJUSTMENTS, json={**GOOD_ADJUSTMENT, "job_hash": job_hash})
    assert_validation_problem(response)
    assert_nothing_written(client, engine)


@pytest.mark.parametrize("job_hash", BAD_JOB_HASHES)
def test_set_budget_with_malformed_job_hash_is_422(
    client: TestClient, engine: Engine, job_hash: object
) -> None:
    response = client.post(BUDGET, json={**GOOD_UPDATE, "job_hash": job_hash})
    assert_validation_problem(response)
    assert_nothing_written(client, engine)


def test_job_hash_of_128_allowed_characters_is_accepted(client: TestClient) -> None:
    job_hash = ("aZ09._:-" * 16)[:128]
    assert adjust_budget(client, job_hash, 0.5)["job_hash"] == job_hash


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"job_hash":"job-a","current_entropy":NaN}', id="nan"),
        pytest.param('{"job_hash":"job-a","current_entropy":Infinity}', id="infinity"),
        pytest.param('{"job_hash":"job-a","current_entropy":-Infinity}', id="minus-infinity"),
        pytest.param('{"job_hash":"job-a","current_entropy":0.5,"floor":NaN}', id="nan-floor"),
        pytest.param(
            '{"job_hash":"job-a","current_entropy":0.5,"decay_rate":Infinity}', id="inf-decay"
        ),
        pytest.param('{"job_hash":"job-a","current_entropy":1e999}', id="overflow-to-inf"),
    ],
)
def test_adjustment_with_non_finite_number_is_422(
    client: TestClient, engine: Engine, raw: str
) -> None:
    assert_validation_problem(client.post(ADJUSTMENTS, content=raw, headers=JSON_HEADERS))
    assert_nothing_written(client, engine)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            '{"job_hash":"job-a","budget_value":NaN,"adjustment_type":"manual"}', id="nan"
        ),
        pytest.param(
            '{"job_hash":"job-a","budget_value":Infinity,"adjustment_type":"manual"}',
            id="infinity",
        ),
        pytest.param(
            '{"job_hash":"job-a","budget_value":0.2,"adjustment_type":"manual",'
            '"entropy_at_time":NaN}',
            id="nan-entropy",
        ),
        pytest.param(
            '{"job_hash":"job-a","budget_value":0.2,"adjustment_type":"manual",'
            '"ceiling":-Infinity}',
            id="minus-infinity-ceiling",
        ),
    ],
)
def test_set_budget_with_non_finite_number_is_422(
    client: TestClient, engine: Engine, raw: str
) -> None:
    assert_validation_problem(client.post(BUDGET, content=raw, headers=JSON_HEADERS))
    assert_nothing_written(client, engine)


@pytest.mark.parametrize(
    "override",
    [
        pytest.param({"current_entropy": 1.5}, id="entropy-above-1"),
        pytest.param({"current_entropy": -0.1}, id="entropy-below-0"),
        pytest.param({"floor": -0.01}, id="floor-below-0"),
        pytest.param({"ceiling": 1.01}, id="ceiling-above-1"),
        pytest.param({"floor": 0.6, "ceiling": 0.4}, id="floor-above-ceiling"),
        pytest.param({"floor": 0.6}, id="floor-above-default-ceiling"),
        pytest.param({"decay_rate": 0}, id="decay-rate-0"),
        pytest.param({"decay_rate": -0.5}, id="decay-rate-negative"),
        pytest.param({"decay_rate": 1.01}, id="decay-rate-above-1"),
        pytest.param({"boost_amount": 1.5}, id="boost-above-1"),
        pytest.param({"boost_amount": -0.1}, id="boost-negative"),
        pytest.param({"entropy_threshold": 1.2}, id="threshold-above-1"),
        pytest.param({"initial_budget": -0.1}, id="initial-negative"),
        pytest.param({"initial_budget": 2}, id="initial-above-1"),
        pytest.param({"current_entropy": "0.5"}, id="entropy-as-string"),
        pytest.param({"floor": "0.05"}, id="floor-as-string"),
        pytest.param({"current_entropy": True}, id="entropy-as-bool"),
        pytest.param({"current_entropy": None}, id="entropy-null"),
        pytest.param({"current_entropy": [0.5]}, id="entropy-as-list"),
        pytest.param({"unexpected": 1}, id="unknown-field"),
        pytest.param({"adjustment_type": "boost"}, id="field-of-the-other-endpoint"),
    ],
)
def test_bad_adjustment_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, override: dict[str, Any]
) -> None:
    response = client.post(ADJUSTMENTS, json={**GOOD_ADJUSTMENT, **override})
    assert_validation_problem(response)
    assert_nothing_written(client, engine)


@pytest.mark.parametrize("missing", ["job_hash", "current_entropy"])
def test_adjustment_without_a_required_field_is_422(
    client: TestClient, engine: Engine, missing: str
) -> None:
    body = {k: v for k, v in GOOD_ADJUSTMENT.items() if k != missing}
    body_problem = assert_validation_problem(client.post(ADJUSTMENTS, json=body))
    assert missing in body_problem["detail"]
    assert_nothing_written(client, engine)


@pytest.mark.parametrize(
    "override",
    [
        pytest.param({"adjustment_type": "bogus"}, id="unknown-type"),
        pytest.param({"adjustment_type": "BOOST"}, id="type-wrong-case"),
        pytest.param({"adjustment_type": None}, id="type-null"),
        pytest.param({"budget_value": 1.5}, id="value-above-1"),
        pytest.param({"budget_value": -0.2}, id="value-negative"),
        pytest.param({"budget_value": "0.5"}, id="value-as-string"),
        pytest.param({"entropy_at_time": 1.1}, id="entropy-above-1"),
        pytest.param({"floor": 0.4, "ceiling": 0.3}, id="floor-above-ceiling"),
        pytest.param({"ceiling": 0.01}, id="ceiling-below-default-floor"),
        pytest.param({"adjustment_reason": "bad\u0000reason"}, id="reason-with-nul"),
        pytest.param({"adjustment_reason": "bell\u0007"}, id="reason-with-control"),
        pytest.param({"adjustment_reason": 12}, id="reason-as-number"),
        pytest.param({"current_entropy": 0.5}, id="field-of-the-other-endpoint"),
        pytest.param({"extra": "x"}, id="unknown-field"),
    ],
)
def test_bad_budget_update_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, override: dict[str, Any]
) -> None:
    response = client.post(BUDGET, json={**GOOD_UPDATE, **override})
    assert_validation_problem(response)
    assert_nothing_written(client, engine)


@pytest.mark.parametrize("missing", ["job_hash", "budget_value", "adjustment_type"])
def test_budget_update_without_a_required_field_is_422(
    client: TestClient, engine: Engine, missing: str
) -> None:
    body = {k: v for k, v in GOOD_UPDATE.items() if k != missing}
    assert_validation_problem(client.post(BUDGET, json=body))
    assert_nothing_written(client, engine)


@pytest.mark.parametrize("path", [ADJUSTMENTS, BUDGET])
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"job_hash": "job-a",', id="truncated-json"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[]", id="array"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"job_hash": "job-\xff", "current_entropy": 0.5}', id="not-utf8"),
    ],
)
def test_unreadable_body_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, path: str, content: bytes
) -> None:
    assert_validation_problem(client.post(path, content=content, headers=JSON_HEADERS))
    assert_nothing_written(client, engine)


def test_failed_request_leaves_an_existing_chain_untouched(
    client: TestClient, engine: Engine
) -> None:
    record = adjust_budget(client, "job-a", 0.5)
    response = client.post(ADJUSTMENTS, json={**GOOD_ADJUSTMENT, "decay_rate": 0})
    assert_validation_problem(response)
    assert row_count(engine, "exploration_budget") == 1
    assert client.get(BUDGET, params={"job_hash": "job-a"}).json() == record


# Reads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [BUDGET, f"{BUDGET}/history", f"{BUDGET}/statistics"])
@pytest.mark.parametrize("job_hash", ["job a", "x" * 129, "..", ".", "job/a"])
def test_read_with_malformed_job_hash_filter_is_422(
    client: TestClient, path: str, job_hash: str
) -> None:
    assert_validation_problem(client.get(path, params={"job_hash": job_hash}))


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 1001}, id="limit-1001"),
        pytest.param({"limit": -1}, id="limit-negative"),
        pytest.param({"limit": "x"}, id="limit-not-a-number"),
        pytest.param({"limit": "2.5"}, id="limit-fraction"),
        pytest.param({"cursor": "garbage!!"}, id="cursor-garbage"),
        pytest.param({"cursor": "eyJhIjoxfQ"}, id="cursor-json-object"),
        pytest.param({"cursor": "WyIyMDI2LTAzLTAxVDEyOjAwOjAwIiwxXQ"}, id="cursor-naive-time"),
        pytest.param({"cursor": "WyJub3QgYSB0aW1lIiwxXQ"}, id="cursor-not-a-time"),
        pytest.param({"since": "2026-03-01T12:00:00"}, id="since-without-offset"),
        pytest.param({"until": "2026-03-01T12:00:00"}, id="until-without-offset"),
        pytest.param({"since": "yesterday"}, id="since-not-a-time"),
    ],
)
def test_history_with_bad_paging_parameters_is_422(
    client: TestClient, params: dict[str, Any]
) -> None:
    adjust_budget(client, "job-a", 0.5)
    assert_validation_problem(client.get(f"{BUDGET}/history", params=params))


@pytest.mark.parametrize("limit", [1, 1000])
def test_history_accepts_the_limits_of_the_limit(client: TestClient, limit: int) -> None:
    adjust_budget(client, "job-a", 0.5)
    response = client.get(f"{BUDGET}/history", params={"limit": limit})
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


# Size and method -----------------------------------------------------------------------------

ONE_MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(ADJUSTMENTS, GOOD_ADJUSTMENT, id="adjustments"),
        pytest.param(BUDGET, GOOD_UPDATE, id="set-budget"),
    ],
)
def test_body_over_one_mib_is_413_and_writes_nothing(
    client: TestClient, engine: Engine, path: str, body: dict[str, Any]
) -> None:
    # A valid body padded with insignificant whitespace: only its size is wrong.
    content = json.dumps(body) + " " * ONE_MIB
    assert_problem(client.post(path, content=content, headers=JSON_HEADERS), 413)
    assert_nothing_written(client, engine)


def test_unsupported_method_is_a_problem(client: TestClient) -> None:
    assert_problem(client.delete(BUDGET), 405)
