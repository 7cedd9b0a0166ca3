"""Every error is an RFC 9457 application/problem+json document."""

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.patterns.helpers import assert_problem, create_pattern, nothing_written, post_raw

ONE_MIB = 1024 * 1024
_PATTERN = {"pattern_type": "t", "pattern_name": "n"}


def test_unknown_route_is_a_404_problem(client: TestClient, subtests: pytest.Subtests) -> None:
    for path in ("/nope", "/v1", "/v1/nope", "/v1/patterns/a/b/c", "/v2/patterns"):
        with subtests.test(path):
            assert_problem(client.get(path), 404)


def test_wrong_method_is_a_405_problem(client: TestClient, subtests: pytest.Subtests) -> None:
    for method, path in [
        ("DELETE", "/v1/patterns"),
        ("PUT", "/v1/patterns/p"),
        ("POST", "/v1/pattern-entropy"),
        ("GET", "/v1/pattern-applications"),
        ("PATCH", "/v1/pattern-entropy/history"),
    ]:
        with subtests.test(f"{method} {path}"):
            assert_problem(client.request(method, path), 405)


def test_validation_problem_lists_every_failing_field(client: TestClient) -> None:
    response = client.post(
        "/v1/patterns", json={"pattern_type": "", "quarantine_status": "lost", "colour": "red"}
    )
    problem = assert_problem(response, 422)
    locs = [error["loc"] for error in problem["errors"]]
    for loc in (
        ["body", "pattern_type"],
        ["body", "pattern_name"],
        ["body", "quarantine_status"],
        ["body", "colour"],
    ):
        assert loc in locs
    for field in ("pattern_type", "pattern_name"):
        assert field in problem["detail"]


def test_query_validation_is_a_problem_too(client: TestClient) -> None:
    problem = assert_problem(client.get("/v1/patterns", params={"limit": "0"}), 422)
    assert problem["errors"][0]["loc"] == ["query", "limit"]
    assert isinstance(problem["errors"][0]["msg"], str)


def test_not_found_and_conflict_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v1/pattern-entropy/snapshots/none"), 404)
    create_pattern(client, id="p")
    assert_problem(client.post("/v1/patterns", json={**_PATTERN, "id": "p"}), 409)


def test_problem_type_is_a_distinct_uri_per_kind(client: TestClient) -> None:
    types = {
        assert_problem(client.get("/v1/nope"), 404)["type"],
        assert_problem(client.delete("/v1/patterns"), 405)["type"],
        assert_problem(client.get("/v1/patterns", params={"limit": 0}), 422)["type"],
    }
    assert len(types) == 3


def _padded_pattern(size: int) -> bytes:
    """A valid pattern body of exactly `size` bytes (JSON whitespace padding)."""
    raw = json.dumps(_PATTERN).encode()
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def test_body_of_exactly_one_mib_is_accepted(client: TestClient) -> None:
    body = _padded_pattern(ONE_MIB)
    assert len(body) == ONE_MIB
    assert post_raw(client, "/v1/patterns", body).status_code == 201


def test_body_over_one_mib_is_a_413_problem_and_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    body = _padded_pattern(ONE_MIB + 1)
    with nothing_written(engine):
        assert_problem(post_raw(client, "/v1/patterns", body), 413)
