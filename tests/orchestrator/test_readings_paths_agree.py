"""The readings hot path (group commit) answers exactly as the standard FastAPI route does:
same status, headers that matter, and body, for good and bad requests alike."""

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.orchestrator.helpers import ClientFactory
from tests.support import empty_tables

JSON = {"content-type": "application/json"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# (name, path suffix after /v1/jobs/, raw body, headers)
REQUESTS: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("low reading", "job-a", b'{"entropy": 0.1}', JSON),
    ("healthy reading", "job-a", b'{"entropy": 0.9}', JSON),
    ("no entropy, no applications", "job-b", b"{}", JSON),
    ("policy override", "job-c", b'{"entropy": 0.5, "policy": {"decay_rate": 0.5}}', JSON),
    (
        "override breaking floor <= initial",
        "job-c",
        b'{"entropy": 0.5, "policy": {"floor": 0.3}}',
        JSON,
    ),
    ("NaN", "job-d", b'{"entropy": NaN}', JSON),
    ("Infinity", "job-d", b'{"entropy": Infinity}', JSON),
    ("string for a number", "job-d", b'{"entropy": "0.5"}', JSON),
    ("out of range", "job-d", b'{"entropy": 1.5}', JSON),
    ("unknown field", "job-d", b'{"entropy": 0.5, "extra": 1}', JSON),
    ("unknown policy field", "job-d", b'{"policy": {"response": {"nope": 1}}}', JSON),
    ("broken JSON", "job-d", b'{"entropy": ', JSON),
    ("JSON array", "job-d", b"[1, 2]", JSON),
    ("null body", "job-d", b"null", JSON),
    ("empty body", "job-d", b"", JSON),
    ("no content type", "job-d", b'{"entropy": 0.5}', {}),
    ("text/plain", "job-d", b'{"entropy": 0.5}', {"content-type": "text/plain"}),
    ("vendor JSON type", "job-e", b'{"entropy": 0.5}', {"content-type": "application/vnd.x+json"}),
    ("not UTF-8", "job-d", b'{"entropy": 0.5, "p": "\xff"}', JSON),
    ("UTF-16", "job-d", '{"entropy": 0.5}'.encode("utf-16"), JSON),
    ("bad job hash", "a%20b", b'{"entropy": 0.5}', JSON),
    ("dot-dot job hash", "..", b'{"entropy": 0.5}', JSON),
    ("job hash too long", "j" * 129, b'{"entropy": 0.5}', JSON),
    ("bad path and bad body", "a%20b", b'{"entropy": "x"}', JSON),
    ("too large", "job-d", b'{"entropy": 0.5, "x": "' + b" " * 1_048_600 + b'"}', JSON),
    ("bad idempotency key", "job-f", b'{"entropy": 0.5}', {**JSON, "Idempotency-Key": " x"}),
    ("idempotent first", "job-f", b'{"entropy": 0.5}', {**JSON, "Idempotency-Key": "k-1"}),
    ("idempotent replay", "job-f", b'{"entropy":0.5}', {**JSON, "Idempotency-Key": "k-1"}),
    ("idempotent reuse", "job-f", b'{"entropy": 0.6}', {**JSON, "Idempotency-Key": "k-1"}),
]


def normalised(text: str) -> str:
    """Ids and times differ between two runs; nothing else may."""
    text = UUID.sub("<id>", text)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<time>", text)


def answers(client: TestClient) -> list[dict[str, Any]]:
    results = []
    for name, job, body, headers in REQUESTS:
        response = client.post(f"/v1/jobs/{job}/entropy-readings", content=body, headers=headers)
        results.append(
            {
                "request": name,
                "status": response.status_code,
                "content-type": response.headers.get("content-type"),
                "location": normalised(response.headers.get("location", "")),
                "replayed": response.headers.get("idempotent-replayed"),
                "retry-after": response.headers.get("retry-after"),
                "body": normalised(response.text),
            }
        )
    return results


def test_hot_path_and_standard_route_answer_alike(
    make_client: ClientFactory, engine: Engine
) -> None:
    with make_client(readings_group_commit=False) as client:
        standard = answers(client)
    empty_tables(engine)
    with make_client(readings_group_commit=True) as client:
        hot = answers(client)

    for expected, actual in zip(standard, hot, strict=True):
        assert actual == expected
    statuses = {answer["request"]: answer["status"] for answer in hot}
    assert statuses["low reading"] == 201
    assert statuses["NaN"] == 422
    assert statuses["too large"] == 413
    assert statuses["idempotent reuse"] == 422


def test_with_group_commit_the_hot_path_serves_readings_not_the_route(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def route_must_not_run(*_args: object) -> None:
        raise AssertionError("the standard route served a reading")

    monkeypatch.setattr("app.jobs.router.record_readings", route_must_not_run)
    with make_client(readings_group_commit=True) as client:
        response = client.post("/v1/jobs/job-a/entropy-readings", json={"entropy": 0.2})
    assert response.status_code == 201
