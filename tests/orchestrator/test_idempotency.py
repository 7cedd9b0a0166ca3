"""Idempotency-Key on every POST: replays, mismatches, failures, key syntax, expiry, races."""

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select

from app.models import IdempotencyKey
from tests.orchestrator.helpers import (
    JOB,
    KEY_HEADER,
    ClientFactory,
    Json,
    assert_problem,
    count_rows,
    create_pattern,
    error_locations,
    readings_url,
    selections_url,
    table_rows,
)
from tests.support import ManualClock, eventually

KEY = "0b6c2f0e-key-1"
REPLAYED = "idempotent-replayed"
APPLIED: Json = {"execution_id": "e-1", "pattern_led_to_success": True}


@dataclass(frozen=True)
class Endpoint:
    """A POST that writes, with a second, different request to the same path."""

    path: str
    body: Json
    other_body: Json


ENDPOINTS = {
    "reading": Endpoint(
        readings_url(),
        {"entropy": 0.1, "policy": {"boost_amount": 0.2}},
        {"entropy": 0.2},
    ),
    "budget": Endpoint(
        "/v1/budget",
        {"job_hash": JOB, "budget_value": 0.3, "adjustment_type": "manual"},
        {"job_hash": JOB, "budget_value": 0.4, "adjustment_type": "manual"},
    ),
    "adjustment": Endpoint(
        "/v1/budget/adjustments",
        {"job_hash": JOB, "current_entropy": 0.2, "boost_amount": 0.2},
        {"job_hash": JOB, "current_entropy": 0.25},
    ),
    "entropy-response": Endpoint(
        "/v1/entropy-responses",
        {
            "trigger": {"job_hash": JOB, "entropy_at_trigger": 0.1, "threshold_used": 0.3},
            "config": {"max_quarantine_revisits": 1, "budget_boost_amount": 0.2},
        },
        {"trigger": {"job_hash": JOB, "entropy_at_trigger": 0.2, "threshold_used": 0.3}},
    ),
    "pattern": Endpoint(
        "/v1/patterns",
        {"pattern_type": "tool", "pattern_name": "retry", "description": "made by the service"},
        {"pattern_type": "tool", "pattern_name": "another"},
    ),
    "application-batch": Endpoint(
        "/v1/pattern-applications",
        {"applications": [{"pattern_id": "p-1", **APPLIED}]},
        {"applications": [{"pattern_id": "p-1", **APPLIED, "execution_id": "e-2"}]},
    ),
    "application": Endpoint(
        "/v1/patterns/p-1/applications",
        {**APPLIED, "retry_count_before": 1},
        {"execution_id": "e-2", "pattern_led_to_success": False},
    ),
    "snapshot": Endpoint(
        "/v1/pattern-entropy/snapshots", {"alert_threshold": 0.5}, {"alert_threshold": 0.9}
    ),
    "selection": Endpoint(
        selections_url(), {"execution_id": "e-1", "seed": 3}, {"execution_id": "e-1", "seed": 4}
    ),
}
ENDPOINT_PARAMS = [pytest.param(endpoint, id=name) for name, endpoint in ENDPOINTS.items()]
READING = ENDPOINTS["reading"]


@pytest.fixture(autouse=True)
def patterns(client: TestClient) -> None:
    """Something for every endpoint to work on: a pattern to apply and one to revisit."""
    create_pattern(client, "p-1")
    create_pattern(client, "q-1", "quarantined")


def post(
    client: TestClient, path: str, body: Json | bytes, key: str | bytes | None = KEY
) -> Response:
    """POST JSON (or raw bytes) with this Idempotency-Key (none when `key` is None)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if key is not None:
        headers[KEY_HEADER] = key
    response: Response = client.post(path, content=content, headers=headers)
    return response


def created(response: Response) -> Response:
    """A request that ran (not a replay)."""
    assert response.status_code == 201, response.text
    assert REPLAYED not in response.headers
    return response


def assert_replay_of(replay: Response, first: Response) -> None:
    assert replay.status_code == first.status_code
    assert replay.content == first.content
    assert replay.headers.get("location") == first.headers.get("location")
    assert replay.headers["content-type"] == first.headers["content-type"]
    assert replay.headers[REPLAYED] == "true"


def reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {name: reordered(value[name]) for name in reversed(value)}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def assert_key_problem(response: Response) -> None:
    problem = assert_problem(response, 422)
    assert ["header", KEY_HEADER] in error_locations(problem)
    assert KEY_HEADER.lower() in problem["detail"].lower()


@pytest.mark.parametrize("endpoint", ENDPOINT_PARAMS)
def test_the_same_key_and_equal_json_replay_the_first_response_and_write_nothing(
    client: TestClient, clock: ManualClock, engine: Engine, endpoint: Endpoint
) -> None:
    first = created(post(client, endpoint.path, endpoint.body))
    written = table_rows(engine)
    clock.advance(5)  # a second run would stamp other times
    same_json = json.dumps(reordered(endpoint.body), indent=3).encode()
    assert same_json != json.dumps(endpoint.body).encode()

    identical = post(client, endpoint.path, endpoint.body)
    reformatted = post(client, endpoint.path, same_json)

    assert_replay_of(identical, first)
    assert_replay_of(reformatted, first)
    assert table_rows(engine) == written


@pytest.mark.parametrize("endpoint", ENDPOINT_PARAMS)
def test_the_same_key_with_another_body_is_422_naming_the_header_and_writes_nothing(
    client: TestClient, engine: Engine, endpoint: Endpoint
) -> None:
    created(post(client, endpoint.path, endpoint.body))
    written = table_rows(engine)

    assert_key_problem(post(client, endpoint.path, endpoint.other_body))
    assert table_rows(engine) == written


def test_the_same_key_on_another_path_is_422(client: TestClient, engine: Engine) -> None:
    created(post(client, READING.path, READING.body))
    written = table_rows(engine)

    assert_key_problem(post(client, readings_url("job-2"), READING.body))
    assert table_rows(engine) == written


def test_without_a_key_the_same_request_runs_again(client: TestClient, engine: Engine) -> None:
    responses = [created(post(client, READING.path, READING.body, key=None)) for _ in range(2)]

    assert responses[0].content != responses[1].content
    assert count_rows(engine, "idempotency_keys") == 0


def test_a_stored_key_belongs_to_the_anonymous_caller(client: TestClient, engine: Engine) -> None:
    created(post(client, READING.path, READING.body))

    with engine.connect() as connection:
        rows = connection.execute(
            select(IdempotencyKey.caller, IdempotencyKey.key, IdempotencyKey.status_code)
        ).all()
    assert [tuple(row) for row in rows] == [("anonymous", KEY, 201)]


def test_a_request_that_failed_validation_stores_nothing_and_its_corrected_retry_runs(
    client: TestClient, engine: Engine
) -> None:
    assert_problem(post(client, READING.path, {"entropy": 1.5}), 422)
    assert count_rows(engine, "idempotency_keys") == 0

    created(post(client, READING.path, READING.body))

    assert count_rows(engine, "idempotency_keys") == 1
    assert count_rows(engine, "exploration_budget") == 2  # initial, then the response's boost


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (selections_url(), {"execution_id": "e-1", "seed": 1}, 409),
        ("/v1/patterns/p-2/applications", APPLIED, 404),
    ],
    ids=["selection-409", "application-404"],
)
def test_the_identical_retry_of_a_failed_request_runs_once_the_cause_is_gone(
    client: TestClient, engine: Engine, path: str, body: Json, status: int
) -> None:
    client.patch("/v1/patterns/p-1", json={"quarantine_status": "retired"})
    assert_problem(post(client, path, body), status)
    assert count_rows(engine, "idempotency_keys") == 0
    create_pattern(client, "p-2")

    first = created(post(client, path, body))

    assert_replay_of(post(client, path, body), first)
    assert count_rows(engine, "pattern_applications") == 1


def test_a_malformed_key_is_422_and_writes_nothing(client: TestClient, engine: Engine) -> None:
    before = table_rows(engine)
    malformed = [b"", b"x" * 256, "cl\u00e9".encode(), b"two words", b"tab\there", b"bell\x07"]

    for key in malformed:
        assert_key_problem(post(client, READING.path, READING.body, key=key))

    assert table_rows(engine) == before


def test_any_key_of_1_to_255_visible_ascii_characters_is_accepted(client: TestClient) -> None:
    for key in ["k", "x" * 255, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"]:
        first = created(post(client, READING.path, READING.body, key=key))
        assert_replay_of(post(client, READING.path, READING.body, key=key), first)


def test_a_key_expires_after_the_ttl_and_the_same_request_then_runs_again(
    make_client: ClientFactory, clock: ManualClock, engine: Engine
) -> None:
    with make_client(idempotency_ttl_seconds=60) as client:
        first = created(post(client, READING.path, READING.body))
        clock.advance(59)
        assert_replay_of(post(client, READING.path, READING.body), first)
        clock.advance(2)

        again = created(post(client, READING.path, READING.body))

    assert again.json()["adjustment"]["id"] != first.json()["adjustment"]["id"]
    assert count_rows(engine, "exploration_budget") == 3  # initial + boost, then a boost
    with engine.connect() as connection:
        created_at = connection.execute(select(IdempotencyKey.created_at)).scalars().all()
    assert created_at == [clock.now]


def test_each_worker_purges_keys_past_their_ttl_even_if_never_reused(
    make_client: ClientFactory, clock: ManualClock, engine: Engine
) -> None:
    with make_client(idempotency_ttl_seconds=60, idempotency_purge_interval_seconds=0.2) as client:
        created(post(client, READING.path, READING.body, key="old"))
        clock.advance(61)
        created(post(client, READING.path, {"entropy": 0.9}, key="fresh"))
        records = count_rows(engine, "exploration_budget")
        eventually(
            lambda: count_rows(engine, "idempotency_keys") == 1, 10, "the expired key's purge"
        )

    with engine.connect() as connection:
        assert connection.execute(select(IdempotencyKey.key)).scalars().all() == ["fresh"]
    assert count_rows(engine, "exploration_budget") == records  # purging touches no record


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=20) as executor:
        yield executor


def test_twenty_concurrent_duplicates_write_once_and_all_get_the_same_answer(
    client: TestClient, engine: Engine, pool: ThreadPoolExecutor
) -> None:
    start = threading.Barrier(20)
    body = {"entropy": 0.5}

    def duplicate(_: int) -> Response:
        start.wait()
        return post(client, READING.path, body)

    responses = list(pool.map(duplicate, range(20)))

    assert [response.status_code for response in responses] == [201] * 20
    assert len({response.content for response in responses}) == 1
    assert sum(response.headers.get(REPLAYED) == "true" for response in responses) == 19
    assert count_rows(engine, "exploration_budget") == 1
    assert count_rows(engine, "idempotency_keys") == 1


def test_concurrent_readings_that_fail_release_their_keys_without_failing_the_others(
    client: TestClient, engine: Engine, pool: ThreadPoolExecutor
) -> None:
    """Ten good and ten bad (floor above ceiling) readings of several jobs, each with its key."""
    start = threading.Barrier(20)
    good = {"entropy": 0.5}
    bad = {"entropy": 0.5, "policy": {"floor": 0.9}}

    def reading(number: int) -> Response:
        start.wait()
        body = bad if number % 2 else good
        return post(client, readings_url(f"job-{number % 4}"), body, key=f"key-{number}")

    responses = list(pool.map(reading, range(20)))

    assert [response.status_code for response in responses] == [201, 422] * 10
    assert count_rows(engine, "idempotency_keys") == 10
    assert count_rows(engine, "exploration_budget") == 10
    retried = [
        created(post(client, readings_url(f"job-{number % 4}"), good, key=f"key-{number}"))
        for number in range(1, 20, 2)
    ]
    assert len(retried) == 10
    assert count_rows(engine, "exploration_budget") == 20
