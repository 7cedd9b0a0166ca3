"""Strict queries: a query parameter an operation does not take is a 422 naming it, as an
unknown body field is, on every documented operation, and nothing is written. A body that is
not JSON says where, as line and column."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core.settings import Settings
from app.main import create_app
from app.models import Base
from tests.patterns.helpers import assert_problem

UNKNOWN = "lmit"
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def everything_stored(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table Alembic made, so "nothing written" covers updates too."""
    with engine.connect() as connection:
        return {
            table.name: sorted(
                repr(tuple(row)) for row in connection.execute(text(f"SELECT * FROM {table.name}"))
            )
            for table in Base.metadata.sorted_tables
        }


@contextmanager
def nothing_written(engine: Engine) -> Iterator[None]:
    before = everything_stored(engine)
    yield
    assert everything_stored(engine) == before


def unknown_parameters(problem: dict[str, Any]) -> list[list[Any]]:
    return [error["loc"] for error in problem["errors"] if error["type"] == "extra_forbidden"]


@pytest.fixture
def app_client(settings: Settings, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    group_commit = getattr(request, "param", True)
    configured = settings.model_copy(update={"readings_group_commit": group_commit})
    with TestClient(create_app(configured)) as client:
        yield client


def documented_operations(client: TestClient) -> list[tuple[str, str, list[str]]]:
    """(method, path with its parameters filled in, the query parameters it documents)."""
    found = []
    for path, methods in client.get("/openapi.json").json()["paths"].items():
        for method, operation in methods.items():
            if method not in HTTP_METHODS:
                continue
            parameters = operation.get("parameters", [])
            query = [p["name"] for p in parameters if p.get("in") == "query"]
            concrete = path.replace("{", "").replace("}", "")  # /v1/patterns/pattern_id
            found.append((method.upper(), concrete, query))
    return found


def test_the_misspelled_limit_of_the_issue_is_named(app_client: TestClient) -> None:
    for entropy in (0.1, 0.2, 0.3):
        reading = {"entropy": entropy}
        assert app_client.post("/v1/jobs/x/entropy-readings", json=reading).status_code == 201

    misspelled = app_client.get("/v1/budget/history?job_hash=x&lmit=2")
    spelled = app_client.get("/v1/budget/history?job_hash=x&limit=2")

    problem = assert_problem(misspelled, 422)
    assert problem["errors"] == [
        {
            "loc": ["query", "lmit"],
            "msg": "Unknown query parameter; this operation takes "
            "cursor, job_hash, limit, since, until",
            "type": "extra_forbidden",
        }
    ]
    assert problem["detail"].startswith("query.lmit: Unknown query parameter")
    assert spelled.status_code == 200
    assert len(spelled.json()["items"]) == 2


def test_every_documented_operation_refuses_an_unknown_query_parameter(
    app_client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    operations = documented_operations(app_client)
    assert len(operations) >= 30
    for method, path, _ in operations:
        with subtests.test(f"{method} {path}"), nothing_written(engine):
            response = app_client.request(method, f"{path}?{UNKNOWN}=2&also_unknown=", json={})
            problem = assert_problem(response, 422)
            assert unknown_parameters(problem) == [["query", UNKNOWN], ["query", "also_unknown"]]


def test_every_documented_query_parameter_gets_past_the_check(
    app_client: TestClient, subtests: pytest.Subtests
) -> None:
    """No false alarm: each parameter the document declares is taken (its value may still be
    refused on its own merits, but never as unknown)."""
    checked = 0
    for method, path, query in documented_operations(app_client):
        if not query or method != "GET":
            continue
        with subtests.test(f"{method} {path}"):
            response = app_client.get(path, params=dict.fromkeys(query, "1"))
            if response.status_code == 422:
                assert unknown_parameters(response.json()) == []
            checked += len(query)
    assert checked >= 20


VALID_WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/patterns", {"id": "p-1", "pattern_type": "retry", "pattern_name": "backoff"}),
    ("POST", "/v1/budget/adjustments", {"job_hash": "job-1", "current_entropy": 0.2}),
    ("POST", "/v1/jobs/job-1/entropy-readings", {"entropy": 0.2}),
    ("PUT", "/v1/jobs/job-1/policy", {"decay_rate": 0.9}),
]


@pytest.mark.parametrize(
    "app_client", [True, False], ids=["group commit", "standard route"], indirect=True
)
def test_a_valid_write_with_an_unknown_parameter_writes_nothing_and_keeps_its_key(
    app_client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    for number, (method, path, body) in enumerate(VALID_WRITES):
        headers = {"Idempotency-Key": f"key-{number}"} if method == "POST" else {}
        with subtests.test(f"{method} {path}"):
            with nothing_written(engine):
                refused = app_client.request(
                    method, f"{path}?dry_run=true", json=body, headers=headers
                )
            accepted = app_client.request(method, path, json=body, headers=headers)

            assert unknown_parameters(assert_problem(refused, 422)) == [["query", "dry_run"]]
            assert accepted.status_code in {200, 201}, accepted.text
            assert "idempotent-replayed" not in accepted.headers  # the key was never claimed


def test_an_unknown_parameter_is_refused_only_after_the_key_is_checked(
    settings: Settings,
) -> None:
    from tests.security.conftest import CONFIGURED_KEYS

    keyed = settings.model_copy(update={"api_keys": CONFIGURED_KEYS})
    with TestClient(create_app(keyed)) as client:
        assert_problem(client.get(f"/v1/jobs?{UNKNOWN}=1"), 401)


def test_undocumented_pages_keep_their_lenient_query_strings(app_client: TestClient) -> None:
    """The dashboard's assets carry a cache-busting `?v=`; Prometheus may filter /metrics."""
    assert app_client.get("/dashboard?from=bookmark").status_code == 200
    assert app_client.get("/dashboard/static/dashboard.js?v=anything").status_code == 200
    assert app_client.get("/metrics?name[]=http_requests_total").status_code == 200


BROKEN_JSON_LINES = ["{", '  "entropy": 0.5,', '  "policy": oops', "}"]
"""Not JSON from the `o` of `oops` on: line 3, column 13 as an editor counts (from 1)."""


@pytest.mark.parametrize(
    "app_client", [True, False], ids=["group commit", "standard route"], indirect=True
)
def test_a_json_decode_error_says_line_and_column(
    app_client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    line = 3
    column = BROKEN_JSON_LINES[line - 1].index("oops") + 1
    body = "\n".join(BROKEN_JSON_LINES).encode()
    for path in ("/v1/jobs/job-1/entropy-readings", "/v1/budget/adjustments", "/v1/patterns"):
        with subtests.test(path), nothing_written(engine):
            response = app_client.post(
                path, content=body, headers={"content-type": "application/json"}
            )
            problem = assert_problem(response, 422)
            message = f"Invalid JSON at line {line}, column {column}: Expecting value"
            assert problem["errors"] == [{"loc": ["body"], "msg": message, "type": "json_invalid"}]
            assert problem["detail"] == f"body: {message}"
