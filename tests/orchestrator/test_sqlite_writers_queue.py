"""On SQLite, reading batches queue for their turn on an flock of `<database>-writers` before
taking SQLite's write lock: the kernel hands the turn to the next writer the moment it is
free, where SQLite's busy handler would sleep between tries. Whatever happens in the batch,
the turn is given back."""

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core import idempotency
from app.core.db import Database, create_db_engine
from app.core.settings import Settings
from app.jobs.readings import Reading, Render, Submission, record_readings
from app.jobs.router import reading_response
from app.jobs.schemas import ReadingResult
from tests.orchestrator.helpers import ClientFactory, readings_url
from tests.support import TEST_DATABASE, ManualClock

pytestmark = pytest.mark.skipif(
    TEST_DATABASE != "sqlite", reason="PostgreSQL writers queue on the jobs' row locks"
)


def writers_queue(settings: Settings) -> Path:
    return Path(f"{make_url(settings.database_url).database}-writers")


@contextmanager
def holding_the_turn(settings: Settings, *, wait: bool = True) -> Iterator[None]:
    queue = os.open(writers_queue(settings), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(queue, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(queue)


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-by-one"])
def test_a_reading_waits_while_another_writer_has_the_turn(
    make_client: ClientFactory, settings: Settings, group_commit: bool
) -> None:
    answers: list[httpx.Response] = []
    with make_client(readings_group_commit=group_commit) as client:
        posting = threading.Thread(
            target=lambda: answers.append(client.post(readings_url("job-1"), json={"entropy": 0.5}))
        )
        with holding_the_turn(settings):
            posting.start()
            time.sleep(0.5)
            assert answers == []  # still waiting for its turn
        posting.join(timeout=10)

    assert [answer.status_code for answer in answers] == [201]


def failing_render(_result: ReadingResult) -> idempotency.StoredResponse:
    raise RuntimeError("the batch fails after its statements ran")


@pytest.mark.parametrize(
    ("render", "status"), [(reading_response, 201), (failing_render, 500)], ids=["kept", "failed"]
)
def test_the_turn_is_given_back_after_a_batch(
    settings: Settings, clock: ManualClock, render: Render, status: int
) -> None:
    database = Database(create_db_engine(settings))
    try:
        (answer,) = record_readings(
            database,
            settings,
            clock,
            render,
            [Submission(Reading("job-1", 0.5, None), "anonymous", None, None)],
            batched=True,
        )
    finally:
        database.dispose()

    assert answer.status_code == status
    with holding_the_turn(settings, wait=False):  # BlockingIOError while anyone holds it
        pass
