"""On SQLite, every writing request and reading batch queues for its turn on an flock of
`<database>-writers` before taking SQLite's write lock: the kernel hands the turn to the next
writer the moment it is free, where SQLite's busy handler would sleep between tries. Whatever
happens in the transaction, the turn is given back; a writer that waits longer than the busy
timeout gives up as it would for SQLite's lock (503); reads never queue."""

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

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
from tests.webhooks.conftest import eventually

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


class Write(NamedTuple):
    group_commit: bool
    method: str
    url: str
    body: dict[str, object]
    status: int


PATTERN: dict[str, object] = {"id": "p-1", "pattern_type": "strategy", "pattern_name": "p-1"}
WRITES = {
    "a reading, group commit": Write(True, "POST", readings_url("job-1"), {"entropy": 0.5}, 201),
    "a reading, one by one": Write(False, "POST", readings_url("job-1"), {"entropy": 0.5}, 201),
    "a pattern": Write(True, "POST", "/v1/patterns", PATTERN, 201),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_write_waits_while_another_writer_has_the_turn(
    make_client: ClientFactory, settings: Settings, write: Write
) -> None:
    answers: list[httpx.Response] = []
    with make_client(readings_group_commit=write.group_commit) as client:
        writing = threading.Thread(
            target=lambda: answers.append(client.request(write.method, write.url, json=write.body))
        )
        with holding_the_turn(settings):
            writing.start()
            time.sleep(0.5)
            assert answers == []  # still waiting for its turn
        writing.join(timeout=10)

    assert [answer.status_code for answer in answers] == [write.status]


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_write_gives_up_with_a_503_when_the_turn_outlasts_the_busy_timeout(
    make_client: ClientFactory, settings: Settings, write: Write
) -> None:
    with make_client(
        readings_group_commit=write.group_commit, sqlite_busy_timeout_ms=300
    ) as client:
        with holding_the_turn(settings):
            started = time.monotonic()
            answer = client.request(write.method, write.url, json=write.body)
            waited = time.monotonic() - started

        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"]
        assert waited >= 0.3
        # the turn its helper took after it gave up went straight back: writes go on
        assert eventually(lambda: turn_is_free(settings))
        again = client.request(write.method, write.url, json=write.body)
        assert again.status_code == write.status, again.text


def turn_is_free(settings: Settings) -> bool:
    try:
        with holding_the_turn(settings, wait=False):
            return True
    except BlockingIOError:
        return False


def test_a_read_does_not_wait_for_the_turn(make_client: ClientFactory, settings: Settings) -> None:
    with make_client() as client, holding_the_turn(settings):
        assert client.get("/v1/patterns").status_code == 200


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
