"""The headers the document declares are the ones the service reads and sends.

- `Idempotency-Key` is declared on an operation exactly when the service reads it there: a
  malformed key is refused on every operation declaring it and ignored on every other one.
- `Location`, `ETag`, `Idempotent-Replayed` and `Retry-After`: a scenario calls every operation
  that declares one of them, and each answer carries such a header only where its operation and
  status declare it, and always carries a declared `Location` or `ETag`.
"""

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.core.settings import Settings
from app.main import create_app
from tests.openapi.test_openapi_descriptions import resolved

KEY = "Idempotency-Key"
WATCHED = ("Location", "ETag", "Idempotent-Replayed", "Retry-After")
ALWAYS_SENT = ("Location", "ETag")
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
LOOPBACK_HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    quiet = settings.model_copy(update={"webhooks_allow_private": True, "webhooks_dispatch": False})
    with TestClient(create_app(quiet)) as test_client:
        yield test_client


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/openapi.json").json()
    return spec


def declared_parameters(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    return {
        f"{p['in']}:{p['name']}"
        for p in (resolved(document, p) for p in operation.get("parameters", []))
    }


def body_example(document: dict[str, Any], operation: dict[str, Any]) -> Any:
    """The first example of the operation's request body (None without a body)."""
    if "requestBody" not in operation:
        return None
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    options = [schema] if "$ref" in schema else schema.get("anyOf", [])
    examples = resolved(document, options[0]).get("examples", [])
    example = dict(examples[0]) if examples else {}
    if "url" in example:
        example["url"] = LOOPBACK_HOOK  # the examples' hosts do not resolve here
    return example


def test_idempotency_key_is_declared_exactly_where_it_is_read(
    client: TestClient, document: dict[str, Any], subtests: pytest.Subtests
) -> None:
    declaring = 0
    for template, methods in document["paths"].items():
        for method, operation in methods.items():
            if method not in HTTP_METHODS:
                continue
            path = re.sub(r"\{[^}]+\}", "x1", template)
            with subtests.test(f"{method.upper()} {template}"):
                body = body_example(document, operation)
                kwargs: dict[str, Any] = {"json": body} if body is not None else {}
                response = client.request(method, path, headers={KEY: " spaced"}, **kwargs)
                refused_key = response.status_code == 422 and ["header", KEY] in [
                    error["loc"] for error in response.json()["errors"]
                ]
                declared = f"header:{KEY}" in declared_parameters(document, operation)
                assert declared == refused_key, response.text
                declaring += declared
    assert declaring >= 13


def template_of(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, methods in document["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method in methods:
            operation: dict[str, Any] = methods[method]
            return operation
    raise AssertionError(f"no operation for {method} {path}")


def declared_headers(document: dict[str, Any], operation: dict[str, Any], status: int) -> set[str]:
    response = operation["responses"].get(str(status))
    assert response is not None, f"{operation['operationId']}: {status} is not documented"
    return set(resolved(document, response).get("headers", {}))


def scenario(client: TestClient) -> Iterator[httpx.Response]:
    """Every operation that declares Location or ETag, each answered with success."""
    created = client.post(
        "/v1/patterns", json={"id": "p-1", "pattern_type": "retry", "pattern_name": "backoff"}
    )
    yield created
    yield client.get(created.headers["location"])
    applied = client.post(
        "/v1/patterns/p-1/applications",
        json={"execution_id": "run-1", "job_hash": "job-1", "pattern_led_to_success": True},
    )
    yield applied
    yield client.get(applied.headers["location"])
    yield client.post(
        "/v1/pattern-applications",
        json={
            "applications": [
                {"pattern_id": "p-1", "execution_id": "run-2", "pattern_led_to_success": False}
            ]
        },
    )
    yield client.post("/v1/jobs/job-1/selections", json={"execution_id": "run-3", "seed": 7})
    reading = {"entropy": 0.2}
    first = client.post("/v1/jobs/job-1/entropy-readings", json=reading, headers={KEY: "r-1"})
    yield first
    replayed = client.post("/v1/jobs/job-1/entropy-readings", json=reading, headers={KEY: "r-1"})
    assert replayed.headers["idempotent-replayed"] == "true"
    yield replayed
    policy = client.get("/v1/jobs/job-1/policy")
    yield policy
    yield client.put(
        "/v1/jobs/job-1/policy",
        json={"decay_rate": 0.9},
        headers={"If-Match": policy.headers["etag"]},
    )
    yield client.post(
        "/v1/budget", json={"job_hash": "job-1", "budget_value": 0.3, "adjustment_type": "manual"}
    )
    yield client.post("/v1/budget/adjustments", json={"job_hash": "job-1", "current_entropy": 0.2})
    yield client.post(
        "/v1/entropy-responses",
        json={"trigger": {"job_hash": "job-1", "entropy_at_trigger": 0.1, "threshold_used": 0.3}},
    )
    yield client.post("/v1/pattern-entropy/snapshots", json={})
    yield client.post(
        "/v1/webhooks", json={"url": LOOPBACK_HOOK, "events": ["pattern.status_changed"]}
    )
    yield client.get("/v1/budget/history", params={"job_hash": "job-1"})
    yield client.get("/readyz")


def test_response_headers_are_sent_where_declared_and_only_there(
    client: TestClient, document: dict[str, Any]
) -> None:
    exercised: set[str] = set()
    for response in scenario(client):
        request = response.request
        operation = template_of(document, request.method.lower(), request.url.path)
        name = operation["operationId"]
        assert response.status_code < 300, f"{name}: {response.text}"
        declared = declared_headers(document, operation, response.status_code)
        sent = {header for header in WATCHED if header in response.headers}
        assert sent <= declared, f"{name} {response.status_code}: undeclared {sent - declared}"
        missing = {h for h in ALWAYS_SENT if h in declared} - sent
        assert not missing, f"{name} {response.status_code}: declared {missing}, not sent"
        exercised.add(name)

    declaring = {
        operation["operationId"]
        for methods in document["paths"].values()
        for operation in methods.values()
        for status, answer in operation["responses"].items()
        if status.startswith("2") and set(answer.get("headers", {})) & set(ALWAYS_SENT)
    }
    assert declaring <= exercised, f"not exercised: {declaring - exercised}"
    assert len(declaring) >= 10
