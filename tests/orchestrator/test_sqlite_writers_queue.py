"""On SQLite, reading batches take their turn on an flock of `<database>-writers` before
SQLite's write lock: the kernel hands the turn to the next the moment it is free, where
SQLite's busy handler would sleep between tries. A batch that waited holds the turn for its
whole transaction; whatever happens in it, the turn is given back; a batch that waits longer
than the busy timeout gives up as it would for SQLite's lock (503); reads never queue."""

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from app.core import idempotency
from app.core.db import Database, WritersTurn, create_db_engine
from app.core.settings import Settings
from app.jobs.readings import Reading, Render, Submission, record_readings
from app.jobs.router import reading_response
from app.jobs.schemas import ReadingResult
from tests.orchestrator.helpers import ClientFactory, count_rows, readings_url, table_rows
from tests.support import TEST_DATABASE, ManualClock, eventually

pytestmark = pytest.mark.skipif(
    TEST_DATABASE != "sqlite", reason="PostgreSQL writers queue on the jobs' row locks"
)
READING = {"entropy": 0.5}


def writers_queue(settings: Settings) -> Path:
    return Path(f"{make_url(settings.database_url).database}-writers")


@contextmanager
def holding_the_turn(queue_path: Path, *, wait: bool = True) -> Iterator[None]:
    queue = os.open(queue_path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(queue, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(queue)


def turn_is_free(queue_path: Path) -> bool:
    try:
        with holding_the_turn(queue_path, wait=False):
            return True
    except BlockingIOError:
        return False


def test_a_writer_that_waited_holds_the_turn_until_its_block_ends(tmp_path: Path) -> None:
    queue_path = tmp_path / "db.sqlite-writers"
    turn = WritersTurn(queue_path, timeout=10)
    inside, leave = threading.Event(), threading.Event()

    def write() -> None:
        with turn():
            inside.set()
            leave.wait(10)

    writer = threading.Thread(target=write)
    with holding_the_turn(queue_path):
        writer.start()
        assert not inside.wait(0.3)  # waits while another holds the turn
    assert inside.wait(10)
    assert not turn_is_free(queue_path)  # its turn, though the thread that waited has gone
    leave.set()
    writer.join(10)
    assert turn_is_free(queue_path)


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-by-one"])
def test_a_reading_waits_while_another_writer_has_the_turn(
    make_client: ClientFactory, settings: Settings, group_commit: bool
) -> None:
    answers: list[httpx.Response] = []
    with make_client(readings_group_commit=group_commit) as client:
        posting = threading.Thread(
            target=lambda: answers.append(client.post(readings_url("job-1"), json=READING))
        )
        with holding_the_turn(writers_queue(settings)):
            posting.start()
            time.sleep(0.5)
            assert answers == []  # still waiting for its turn
        posting.join(timeout=10)

    assert [answer.status_code for answer in answers] == [201]


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-by-one"])
def test_a_reading_gives_up_with_a_503_when_the_turn_outlasts_the_busy_timeout(
    make_client: ClientFactory, settings: Settings, engine: Engine, group_commit: bool
) -> None:
    queue_path = writers_queue(settings)
    with make_client(readings_group_commit=group_commit, sqlite_busy_timeout_ms=300) as client:
        with holding_the_turn(queue_path):
            started = time.monotonic()
            answer = client.post(readings_url("job-1"), json=READING)
            waited = time.monotonic() - started

        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"]
        assert waited >= 0.3
        assert all(rows == [] for rows in table_rows(engine).values())  # nothing written
        # the turn its waiting thread took after it gave up went straight back
        assert eventually(lambda: turn_is_free(queue_path))
        again = client.post(readings_url("job-1"), json=READING)
        assert again.status_code == 201, again.text
        assert count_rows(engine, "exploration_budget") == 1


@contextmanager
def holding_the_turn_for(queue_path: Path, *, seconds: float) -> Iterator[None]:
    """Another writer holds the turn for `seconds`, from a thread, while the block runs."""
    taken = threading.Event()

    def hold() -> None:
        with holding_the_turn(queue_path):
            taken.set()
            time.sleep(seconds)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        holder.join(10)


@contextmanager
def holding_sqlite_lock(settings: Settings) -> Iterator[None]:
    """SQLite's own write lock, taken as a writer that takes no turn would (the CLI's)."""
    connection = sqlite3.connect(make_url(settings.database_url).database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
    finally:
        connection.close()


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-by-one"])
def test_the_turn_and_sqlites_lock_share_one_busy_timeout(
    make_client: ClientFactory, settings: Settings, engine: Engine, group_commit: bool
) -> None:
    queue_path = writers_queue(settings)
    with make_client(readings_group_commit=group_commit, sqlite_busy_timeout_ms=2000) as client:
        with holding_sqlite_lock(settings):
            started = time.monotonic()
            with holding_the_turn_for(queue_path, seconds=1.2):
                answer = client.post(readings_url("job-1"), json=READING)
            waited = time.monotonic() - started

        assert answer.status_code == 503, answer.text
        # 1.2 s for the turn, then what is left of the 2 s for SQLite's lock: not 2 s more
        assert 1.9 <= waited < 2.8
        assert all(rows == [] for rows in table_rows(engine).values())


def test_the_next_writer_on_the_connection_gets_the_whole_busy_timeout_again(
    settings: Settings,
) -> None:
    database = Database(create_db_engine(settings))
    try:
        with (
            database.writing_turn() as deadline,
            database.session(write=True, lock_deadline=deadline) as session,
        ):
            shortened = session.execute(text("PRAGMA busy_timeout")).scalar_one()
            first = session.connection().connection.dbapi_connection
        with database.session(write=True) as session:
            restored = session.execute(text("PRAGMA busy_timeout")).scalar_one()
            second = session.connection().connection.dbapi_connection
    finally:
        database.dispose()

    assert second is first  # the pool handed the same connection back
    assert 0 < shortened < settings.sqlite_busy_timeout_ms
    assert restored == settings.sqlite_busy_timeout_ms


def test_a_read_does_not_wait_for_the_turn(make_client: ClientFactory, settings: Settings) -> None:
    with make_client() as client, holding_the_turn(writers_queue(settings)):
        assert client.get("/v1/patterns").status_code == 200
        assert client.get("/v1/budget/statistics?job_hash=job-1").status_code == 200


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
    assert turn_is_free(writers_queue(settings))


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_has_no_turn(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    database = Database(create_db_engine(Settings(database_url=url)))
    with database.writing_turn():
        pass
    database.dispose()
    assert list(tmp_path.iterdir()) == []
