"""Every reading goes through one unit of work (`app.jobs.readings.record_readings`), whichever
way it arrives (the group-commit writer, or the route one by one): the same problem for the same
bad request, nothing left behind by a refused reading, one mapping of database errors."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from app.core import idempotency
from app.core.db import Database, create_db_engine
from app.core.settings import Settings
from app.jobs.readings import Reading, Submission, record_readings
from app.jobs.router import reading_response
from tests.orchestrator.helpers import (
    KEY_HEADER,
    ClientFactory,
    assert_problem,
    count_rows,
    error_locations,
    readings_url,
    table_rows,
)
from tests.support import ManualClock

BAD_KEY = {KEY_HEADER: " not visible ASCII"}
KEY_INVALID = [["header", KEY_HEADER]]


@pytest.fixture(params=[True, False], ids=["group-commit", "one-by-one"])
def client(request: pytest.FixtureRequest, make_client: ClientFactory) -> Iterator[TestClient]:
    with make_client(readings_group_commit=request.param) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("job_hash", "body"),
    [
        ("job-1", {"entropy": "high"}),
        ("job-1", {"entropy": 0.5, "unknown": 1}),
        ("a b", {"entropy": 0.5}),
        ("a b", {"entropy": "high"}),
    ],
    ids=["bad body", "unknown field", "bad path", "bad path and bad body"],
)
def test_a_bad_idempotency_key_is_named_before_the_path_and_the_body(
    client: TestClient, engine: Engine, job_hash: str, body: dict[str, Any]
) -> None:
    before = table_rows(engine)
    response = client.post(readings_url(job_hash), json=body, headers=BAD_KEY)

    problem = assert_problem(response, 422)
    assert error_locations(problem) == KEY_INVALID
    assert problem["detail"].startswith(f"header.{KEY_HEADER}: must be 1-255 visible")
    assert table_rows(engine) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"entropy": 0.5, "policy": {"floor": 0.3}}],
    ids=["no entropy and no diversity to measure", "policy override out of bounds"],
)
def test_a_refused_reading_of_a_new_job_leaves_no_row(
    client: TestClient, engine: Engine, body: dict[str, Any]
) -> None:
    assert_problem(client.post(readings_url("job-new"), json=body), 422)

    assert count_rows(engine, "job_heads") == 0
    assert all(rows == [] for rows in table_rows(engine).values())


def test_in_one_batch_a_refused_reading_leaves_no_row_and_the_others_are_kept(
    settings: Settings, clock: ManualClock, engine: Engine
) -> None:
    database = Database(create_db_engine(settings))
    submissions = [
        Submission(Reading("job-kept", 0.5, None), "anonymous", None, None),
        Submission(Reading("job-refused", None, None), "anonymous", None, None),
    ]
    try:
        kept, refused = record_readings(
            database, settings, clock, reading_response, submissions, batched=True
        )
    finally:
        database.dispose()

    assert isinstance(kept, idempotency.StoredResponse)
    assert kept.status_code == 201
    assert isinstance(refused, Exception)
    assert heads(engine) == ["job-kept"]


def heads(engine: Engine) -> list[str]:
    return [str(row[0]) for row in table_rows(engine)["job_heads"]]


DATABASE_ERRORS = [
    (IntegrityError("UPDATE idempotency_keys", {}, Exception("UNIQUE failed")), 409, None),
    (OperationalError("UPDATE idempotency_keys", {}, Exception("disk I/O error")), 503, "2"),
    (ProgrammingError("UPDATE idempotency_keys", {}, Exception("syntax error")), 500, None),
]


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    DATABASE_ERRORS,
    ids=["integrity error", "outage", "other database error"],
)
def test_database_errors_map_to_one_status_whichever_way_the_reading_came(  # noqa: PLR0917
    client: TestClient,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
    retry_after: str | None,
) -> None:
    """A constraint lost to a concurrent write is a 409 (retry it), an outage a 503 with
    Retry-After, anything else a 500; the transaction is rolled back in every case."""

    def failing_store(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(idempotency, "store", failing_store)
    response = client.post(readings_url(), json={"entropy": 0.5}, headers={KEY_HEADER: "k-1"})

    assert_problem(response, status)
    assert response.headers.get("retry-after") == retry_after
    assert all(rows == [] for rows in table_rows(engine).values())
