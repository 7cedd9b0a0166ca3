"""Shortcuts shared by the orchestrator-path tests: requests, expected values, row checks."""

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, text

Json = dict[str, Any]
ClientFactory = Callable[..., AbstractContextManager[TestClient]]
"""Builds a TestClient over an app made with the given Settings overrides (and the test clock)."""

JOB = "job-1"
KEY_HEADER = "Idempotency-Key"
PROBLEM_MEDIA_TYPE = "application/problem+json"
REVISIT_REASON = "Entropy response: revisiting for revalidation"

DEFAULT_POLICY: Json = {
    "floor": 0.05,
    "ceiling": 0.50,
    "decay_rate": 0.95,
    "boost_amount": 0.10,
    "entropy_threshold": 0.3,
    "initial_budget": 0.15,
    "response": {
        "enabled": True,
        "threshold": 0.3,
        "cooldown_seconds": 3600,
        "boost_budget": True,
        "revisit_quarantine": True,
        "max_quarantine_revisits": 3,
        "budget_boost_amount": 0.10,
    },
    "diversity": {"scope": "global", "half_life_seconds": None},
}
"""The server defaults: the seed's numbers, with the automatic response switched on, and
diversity measured over every job's applications, all-time (the seed's)."""

ALL_TABLES = (
    "exploration_budget",
    "entropy_responses",
    "pattern_entropy_history",
    "patterns",
    "pattern_applications",
    "job_policies",
    "idempotency_keys",
    "job_heads",
)


# --- expected values -------------------------------------------------------------------------


def with_changes(base: Json, changes: Mapping[str, Any]) -> Json:
    """`base` with `changes` applied, nested dicts merged (the way overrides combine)."""
    merged = copy.deepcopy(base)
    for name, value in changes.items():
        if isinstance(value, Mapping):
            merged[name] = with_changes(merged[name], value)
        else:
            merged[name] = value
    return merged


def diversity(application_counts: Sequence[int]) -> float:
    """The seed's diversity index: Shannon entropy over applied patterns, normalised."""
    used = [count for count in application_counts if count > 0]
    total = sum(used)
    entropy = -sum(count / total * math.log2(count / total) for count in used)
    maximum = math.log2(len(used)) if len(used) > 1 else 1.0
    return entropy / maximum


def assert_budget(
    record: Json,
    value: float,
    adjustment_type: str,
    reason: str,
    *,
    entropy: float | None,
    job_hash: str = JOB,
) -> None:
    assert record["job_hash"] == job_hash
    assert record["budget_value"] == pytest.approx(value)
    assert record["adjustment_type"] == adjustment_type
    assert record["adjustment_reason"] == reason
    if entropy is None:
        assert record["entropy_at_time"] is None
    else:
        assert record["entropy_at_time"] == pytest.approx(entropy)


def assert_problem(response: Response, status: int) -> Json:
    """An RFC 9457 problem document with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem: Json = response.json()
    assert problem["status"] == status
    assert problem["type"]
    assert problem["title"]
    assert problem["detail"]
    return problem


def error_locations(problem: Json) -> list[list[str | int]]:
    return [error["loc"] for error in problem["errors"]]


# --- rows ------------------------------------------------------------------------------------


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def table_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for "this request wrote nothing" comparisons."""
    order = {"job_policies": "job_hash", "job_heads": "job_hash"}
    with engine.connect() as connection:
        return {
            table: [
                tuple(row)
                for row in connection.execute(
                    text(f"SELECT * FROM {table} ORDER BY {order.get(table, 'seq')}")
                )
            ]
            for table in ALL_TABLES
        }


def clear_tables(engine: Engine) -> None:
    """Back to an empty database in the middle of a test (children first)."""
    with engine.begin() as connection:
        for table in ALL_TABLES[::-1]:
            connection.execute(text(f"DELETE FROM {table}"))


# --- requests --------------------------------------------------------------------------------


def policy_url(job_hash: str = JOB) -> str:
    return f"/v1/jobs/{job_hash}/policy"


def readings_url(job_hash: str = JOB) -> str:
    return f"/v1/jobs/{job_hash}/entropy-readings"


def selections_url(job_hash: str = JOB) -> str:
    return f"/v1/jobs/{job_hash}/selections"


def put_policy(
    client: TestClient, body: Json, *, job_hash: str = JOB, if_match: str | None = None
) -> Response:
    headers = {} if if_match is None else {"If-Match": if_match}
    response: Response = client.put(policy_url(job_hash), json=body, headers=headers)
    return response


def store_policy(client: TestClient, body: Json, *, job_hash: str = JOB) -> str:
    """PUT a policy that must be accepted; returns its ETag."""
    response = put_policy(client, body, job_hash=job_hash)
    assert response.status_code == 200, response.text
    etag: str = response.headers["etag"]
    return etag


def read(
    client: TestClient, entropy: float, *, job_hash: str = JOB, policy: Json | None = None
) -> Json:
    """POST one reading that must succeed; returns the 201 body."""
    body: Json = {"entropy": entropy}
    if policy is not None:
        body["policy"] = policy
    response = client.post(readings_url(job_hash), json=body)
    assert response.status_code == 201, response.text
    result: Json = response.json()
    return result


def create_pattern(client: TestClient, pattern_id: str, status: str = "pending") -> Json:
    response = client.post(
        "/v1/patterns",
        json={
            "id": pattern_id,
            "pattern_type": "strategy",
            "pattern_name": f"pattern {pattern_id}",
            "quarantine_status": status,
        },
    )
    assert response.status_code == 201, response.text
    pattern: Json = response.json()
    return pattern


def get_pattern(client: TestClient, pattern_id: str) -> Json:
    response = client.get(f"/v1/patterns/{pattern_id}")
    assert response.status_code == 200, response.text
    pattern: Json = response.json()
    return pattern


def apply_pattern(
    client: TestClient, pattern_id: str, times: int = 1, *, success: bool | None = True
) -> list[str]:
    """Record `times` applications with this outcome (no job); returns their ids."""
    response = client.post(
        "/v1/pattern-applications",
        json={
            "applications": [
                {
                    "pattern_id": pattern_id,
                    "execution_id": f"exec-{pattern_id}-{number}",
                    "pattern_led_to_success": success,
                }
                for number in range(times)
            ]
        },
    )
    assert response.status_code == 201, response.text
    return [item["id"] for item in response.json()["items"]]


def report_outcome(client: TestClient, application_id: str, success: bool | None) -> Response:
    response: Response = client.patch(
        f"/v1/pattern-applications/{application_id}", json={"pattern_led_to_success": success}
    )
    return response


def set_budget(client: TestClient, value: float, *, job_hash: str = JOB) -> None:
    """Give the job this budget (bounds opened to 0..1 so no value is clamped)."""
    response = client.post(
        "/v1/budget",
        json={
            "job_hash": job_hash,
            "budget_value": value,
            "adjustment_type": "manual",
            "floor": 0.0,
            "ceiling": 1.0,
        },
    )
    assert response.status_code == 201, response.text


def select(client: TestClient, *, job_hash: str = JOB, **body: Any) -> Response:
    response: Response = client.post(
        selections_url(job_hash), json={"execution_id": "exec-1", **body}
    )
    return response


def selected(client: TestClient, *, job_hash: str = JOB, **body: Any) -> Json:
    """A selection that must succeed; returns the 201 body."""
    response = select(client, job_hash=job_hash, **body)
    assert response.status_code == 201, response.text
    result: Json = response.json()
    return result
