"""HTTP helpers shared by the API tests (owned by the budget and responses suites).

Small, explicit wrappers over the public HTTP contract (docs: /work/shared/DESIGN.md), so a test
reads as the behaviour it pins rather than as request plumbing:

- `create_pattern` / `apply_pattern` / `apply_patterns`: the data that pattern diversity is
  computed from (and the quarantined patterns an entropy response revisits);
- `adjust_budget` / `set_budget` / `trigger_response`: the three writers of budget and response
  records; each asserts the 201 and returns the JSON body;
- `assert_problem` / `assert_validation_problem`: the RFC 9457 error shape every failure shares;
- `walk_pages`: follows `next_cursor` to the end and returns every item in order;
- `row_count` / `assert_rfc3339_utc`: direct checks on the tables and on timestamps.

Every helper takes the Starlette `TestClient` of the `client` fixture; nothing here keeps state.
"""

import re
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, text

PROBLEM_CONTENT_TYPE = "application/problem+json"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
JSON_HEADERS = {"content-type": "application/json"}


def create_pattern(
    client: TestClient, pattern_id: str, quarantine_status: str = "pending"
) -> dict[str, Any]:
    """POST /v1/patterns with a fixed id; returns the created pattern."""
    response = client.post(
        "/v1/patterns",
        json={
            "id": pattern_id,
            "pattern_type": "strategy",
            "pattern_name": f"pattern {pattern_id}",
            "quarantine_status": quarantine_status,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def get_pattern(client: TestClient, pattern_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/patterns/{pattern_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def apply_pattern(client: TestClient, pattern_id: str, times: int = 1) -> None:
    """Record `times` applications of one pattern (one batch request); moves its last_seen."""
    apply_patterns(client, {pattern_id: times})


def apply_patterns(client: TestClient, counts: dict[str, int]) -> None:
    """Record applications of several patterns in one batch: {pattern_id: how many}."""
    applications = [
        {
            "pattern_id": pattern_id,
            "execution_id": f"exec-{pattern_id}-{n}",
            "pattern_led_to_success": True,
        }
        for pattern_id, times in counts.items()
        for n in range(times)
    ]
    response = client.post("/v1/pattern-applications", json={"applications": applications})
    assert response.status_code == 201, response.text


def adjust_budget(
    client: TestClient, job_hash: str, current_entropy: float, **policy: float
) -> dict[str, Any]:
    """POST /v1/budget/adjustments; `policy` overrides floor, ceiling, decay_rate, ..."""
    response = client.post(
        "/v1/budget/adjustments",
        json={"job_hash": job_hash, "current_entropy": current_entropy, **policy},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def set_budget(
    client: TestClient,
    job_hash: str,
    budget_value: float,
    adjustment_type: str = "manual",
    **extra: Any,
) -> dict[str, Any]:
    """POST /v1/budget; `extra` may carry floor, ceiling, entropy_at_time, adjustment_reason."""
    response = client.post(
        "/v1/budget",
        json={
            "job_hash": job_hash,
            "budget_value": budget_value,
            "adjustment_type": adjustment_type,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def trigger_response(
    client: TestClient,
    job_hash: str,
    entropy_at_trigger: float = 0.1,
    threshold_used: float = 0.3,
    **config: Any,
) -> dict[str, Any]:
    """POST /v1/entropy-responses; `config` holds the config fields (omitted: the defaults)."""
    payload: dict[str, Any] = {
        "trigger": {
            "job_hash": job_hash,
            "entropy_at_trigger": entropy_at_trigger,
            "threshold_used": threshold_used,
        }
    }
    if config:
        payload["config"] = config
    response = client.post("/v1/entropy-responses", json=payload)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document with the given status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_CONTENT_TYPE)
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"].strip()
    return body


def assert_validation_problem(response: Response) -> dict[str, Any]:
    """A 422 problem with a non-empty `errors` list and a non-empty `detail`."""
    body = assert_problem(response, 422)
    assert isinstance(body.get("errors"), list)
    assert body["errors"]
    return body


def walk_pages(
    client: TestClient, path: str, params: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Follow `next_cursor` from the first page to the last; returns (all items, page count)."""
    items: list[dict[str, Any]] = []
    query = dict(params or {})
    pages = 0
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items, pages
        assert pages < 1000, "paging does not terminate"
        query["cursor"] = page["next_cursor"]


def row_count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        count: int = connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    return count


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 timestamp with `Z` or an explicit offset, as an aware datetime."""
    assert RFC3339.match(value), f"not RFC 3339 with an offset: {value!r}"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None
    return parsed


def assert_rfc3339_utc(value: str, expected: datetime) -> None:
    """`value` is RFC 3339 with an offset of zero (UTC) and denotes the instant `expected`."""
    parsed = parse_rfc3339(value)
    assert parsed.utcoffset() is not None
    assert parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert parsed == expected.astimezone(UTC)
