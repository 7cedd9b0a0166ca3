"""Every reading takes one path (app.jobs.hot_path, then the unit of work), and is answered
alike with group commit on (batched by the writer) and off (one by one): same status, headers
that matter, body AND database state, for good and bad requests alike, combined errors, and
concurrent requests."""

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.models import Base
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
    ("bad key and bad body", "job-g", b'{"entropy": "x"}', {**JSON, "Idempotency-Key": " x"}),
    ("bad key and bad path", "a%20b", b'{"entropy": 0.5}', {**JSON, "Idempotency-Key": " x"}),
    ("bad key and broken JSON", "job-g", b'{"entropy": ', {**JSON, "Idempotency-Key": " x"}),
    ("bad key, bad path, bad body", "..", b'{"x": 1}', {**JSON, "Idempotency-Key": "\x7f"}),
    ("unknown query and bad key", "job-g?x=1", b"{}", {**JSON, "Idempotency-Key": " x"}),
    ("refused reading of a new job", "job-h", b'{"policy": {"floor": 0.4}}', JSON),
    ("too large", "job-d", b'{"entropy": 0.5, "x": "' + b" " * 1_048_600 + b'"}', JSON),
    ("bad idempotency key", "job-f", b'{"entropy": 0.5}', {**JSON, "Idempotency-Key": " x"}),
    ("idempotent first", "job-f", b'{"entropy": 0.5}', {**JSON, "Idempotency-Key": "k-1"}),
    ("idempotent replay", "job-f", b'{"entropy":0.5}', {**JSON, "Idempotency-Key": "k-1"}),
    ("idempotent reuse", "job-f", b'{"entropy": 0.6}', {**JSON, "Idempotency-Key": "k-1"}),
]


def normalised(text: str) -> str:
    """Ids and times differ between two runs; nothing else may."""
    text = UUID.sub("<id>", text)
    text = re.sub(r"msg_[0-9a-f]{32}", "<message id>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[T ][\d:.]+(Z|\+00:00)?", "<time>", text)
    return re.sub(r"datetime\.datetime\([^)]*\)", "<time>", text)


def database_state(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, ids and times normalised, in a stable order; without the
    insertion sequences (which the other run has moved on) and the webhook dispatcher's
    progress (a background thread's, not the request's)."""
    state = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c.name for c in table.columns if c.name not in {"seq", "fanned_out"}]
            rows = connection.execute(text(f"SELECT {', '.join(columns)} FROM {table.name}"))
            state[table.name] = sorted(normalised(repr(tuple(row))) for row in rows)
    return state


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


def test_batched_and_one_by_one_readings_answer_and_write_alike(
    make_client: ClientFactory, engine: Engine
) -> None:
    with make_client(readings_group_commit=False) as client:
        one_by_one = answers(client)
    one_by_one_state = database_state(engine)
    empty_tables(engine)
    with make_client(readings_group_commit=True) as client:
        batched = answers(client)

    for expected, actual in zip(one_by_one, batched, strict=True):
        assert actual == expected
    assert database_state(engine) == one_by_one_state
    statuses = {answer["request"]: answer["status"] for answer in batched}
    assert statuses["low reading"] == 201
    assert statuses["NaN"] == 422
    assert statuses["too large"] == 413
    assert statuses["idempotent reuse"] == 422
    assert "job-h" not in str(one_by_one_state["job_heads"])
    assert "job-a" in str(one_by_one_state["job_heads"])


CONCURRENT_JOBS = 12


def concurrent_answers(client: TestClient) -> list[dict[str, Any]]:
    """Each job gets the same keyed reading twice and a refused one, all at once: one of the
    pair is applied and the other replays it, whatever the order."""
    requests = [
        (f"job-{n}", {"entropy": n / CONCURRENT_JOBS}, {"Idempotency-Key": f"k-{n}"})
        for n in range(CONCURRENT_JOBS)
        for _ in range(2)
    ] + [(f"job-{n}", {"entropy": "x"}, {}) for n in range(CONCURRENT_JOBS)]

    def send(request: tuple[str, dict[str, Any], dict[str, str]]) -> dict[str, Any]:
        job, body, headers = request
        response = client.post(f"/v1/jobs/{job}/entropy-readings", json=body, headers=headers)
        return {
            "job": job,
            "status": response.status_code,
            "location": normalised(response.headers.get("location", "")),
            "body": normalised(response.text),
            "replayed": response.headers.get("idempotent-replayed"),
        }

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return sorted(pool.map(send, requests), key=repr)


def test_concurrent_readings_answer_and_write_alike_batched_or_one_by_one(
    make_client: ClientFactory, engine: Engine
) -> None:
    with make_client(readings_group_commit=False) as client:
        one_by_one = concurrent_answers(client)
    one_by_one_state = database_state(engine)
    empty_tables(engine)
    with make_client(readings_group_commit=True) as client:
        batched = concurrent_answers(client)

    assert batched == one_by_one
    assert database_state(engine) == one_by_one_state
    assert [a["status"] for a in batched].count(201) == 2 * CONCURRENT_JOBS
    assert [a["replayed"] for a in batched].count("true") == CONCURRENT_JOBS
    initial = [row for row in one_by_one_state["exploration_budget"] if "'initial'" in row]
    assert len(initial) == CONCURRENT_JOBS  # each key applied once


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-by-one"])
def test_every_reading_is_served_by_the_hot_path_the_route_only_declares_it(
    make_client: ClientFactory, engine: Engine, group_commit: bool
) -> None:
    """The route's endpoint raises if it ever runs: a 201 and its record come from the hot
    path, batched or not."""
    with make_client(readings_group_commit=group_commit) as client:
        response = client.post("/v1/jobs/job-a/entropy-readings", json={"entropy": 0.2})
    assert response.status_code == 201
    assert database_state(engine)["exploration_budget"]
