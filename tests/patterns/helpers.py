"""Helpers for the pattern, pattern-entropy and core tests: request builders, problem checks and
a whole-database fingerprint that proves a failed request wrote nothing."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

PROBLEM_MEDIA_TYPE = "application/problem+json"
TABLES = (
    "patterns",
    "pattern_applications",
    "pattern_entropy_history",
    "exploration_budget",
    "entropy_responses",
)
RETRY_COUNT_MAX = 2_147_483_647


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp from a response; it must carry an offset."""
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp without an offset: {value!r}"
    return parsed


def create_pattern(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"pattern_type": "retry", "pattern_name": "backoff", **fields}
    response = client.post("/v1/patterns", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def create_patterns(client: TestClient, *ids: str, **fields: Any) -> list[dict[str, Any]]:
    return [create_pattern(client, id=pattern_id, **fields) for pattern_id in ids]


def get_pattern(client: TestClient, pattern_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/patterns/{pattern_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def application_body(success: bool | None = True, **fields: Any) -> dict[str, Any]:
    return {"execution_id": "exec-1", "pattern_led_to_success": success, **fields}


def apply_pattern(
    client: TestClient, pattern_id: str, success: bool | None = True, **fields: Any
) -> dict[str, Any]:
    response = client.post(
        f"/v1/patterns/{pattern_id}/applications", json=application_body(success, **fields)
    )
    assert response.status_code == 201, response.text
    recorded: dict[str, Any] = response.json()
    return recorded


def batch_items(pattern_ids: Sequence[str], success: bool | None = True) -> list[dict[str, Any]]:
    return [
        {"pattern_id": pattern_id, **application_body(success, execution_id=f"exec-{index}")}
        for index, pattern_id in enumerate(pattern_ids)
    ]


def post_batch(client: TestClient, items: list[dict[str, Any]]) -> httpx.Response:
    return client.post("/v1/pattern-applications", json={"applications": items})


def apply_counts(client: TestClient, counts: dict[str, int]) -> None:
    """Give each pattern exactly `counts[id]` applications in one batch (patterns must exist)."""
    pattern_ids = [pattern_id for pattern_id, count in counts.items() for _ in range(count)]
    if pattern_ids:
        response = post_batch(client, batch_items(pattern_ids))
        assert response.status_code == 201, response.text


def population(client: TestClient, counts: dict[str, int]) -> None:
    """Create one pattern per key and give it that many applications."""
    create_patterns(client, *counts)
    apply_counts(client, counts)


def post_raw(
    client: TestClient, path: str, content: str | bytes, method: str = "POST"
) -> httpx.Response:
    """Send a body exactly as given (NaN literals, lone surrogates, bad bytes...)."""
    raw = content.encode("utf-8") if isinstance(content, str) else content
    return client.request(method, path, content=raw, headers={"content-type": "application/json"})


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document with the given status; 422s list their errors."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_MEDIA_TYPE
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(problem.get(member), str), f"{member} missing: {problem}"
        assert problem[member], f"{member} empty: {problem}"
    if status == 422:
        assert problem["errors"], problem
        for error in problem["errors"]:
            assert isinstance(error["loc"], list), error
            assert isinstance(error["msg"], str), error
            assert isinstance(error["type"], str), error
    return problem


def refused(
    client: TestClient, engine: Engine, method: str, path: str, raw: str | bytes
) -> dict[str, Any]:
    """Send `raw`; it must be a 422 problem document and change nothing."""
    with nothing_written(engine):
        response = post_raw(client, path, raw, method=method)
        assert response.status_code == 422, f"{raw!r}: {response.status_code} {response.text}"
    return assert_problem(response, 422)


def first_loc(problem: dict[str, Any]) -> list[Any]:
    loc: list[Any] = problem["errors"][0]["loc"]
    return loc


def database_fingerprint(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, so "nothing written" also covers updates."""
    with engine.connect() as connection:
        return {
            table: sorted(
                (tuple(row) for row in connection.execute(text(f"SELECT * FROM {table}"))),
                key=repr,
            )
            for table in TABLES
        }


@contextmanager
def nothing_written(engine: Engine) -> Iterator[None]:
    """Asserts that the database is unchanged by whatever runs inside the block."""
    before = database_fingerprint(engine)
    yield
    assert database_fingerprint(engine) == before


def row_count(engine: Engine, table: str) -> int:
    assert table in TABLES
    with engine.connect() as connection:
        count: int = connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
        return count


def walk_pages(client: TestClient, path: str, limit: int, **params: Any) -> list[list[str]]:
    """Follow `next_cursor` from the first page to the last; the ids of each page."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) <= 1000, "cursor never ends"


def item_ids(client: TestClient, path: str, **params: Any) -> list[str]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]
