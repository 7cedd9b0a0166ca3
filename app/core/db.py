"""Engine, sessions and the one request-scoped transaction.

SQLite: WAL, a busy timeout, foreign keys on, and write requests open their transaction with
`BEGIN IMMEDIATE`, which takes the database's single write lock up front, so read-modify-write
sequences can never interleave. PostgreSQL: psycopg 3, a bounded pool, and the per-job row locks
the services take (see `app.core.locking`).
"""

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from app.core.idempotency_http import IdempotencyKeyDep, claim_key
from app.core.methods import SAFE_METHODS
from app.core.settings import Settings
from app.core.telemetry import TallySink, counting_sessions

logger = logging.getLogger("app.db")
DEFAULT_TURN_TIMEOUT_SECONDS = Settings.model_fields["sqlite_busy_timeout_ms"].default / 1000
"""How long a SQLite writer waits for its turn unless told: as long as for SQLite's lock."""
WRITE_TRANSACTION = "entropy_budget_write"
"""Execution option marking connections whose transactions may write (SQLite: BEGIN IMMEDIATE)."""
LOCK_DEADLINE = "entropy_budget_lock_deadline"
"""Execution option: the `time.monotonic()` by which a SQLite writer that took its turn must
hold SQLite's lock, so that the turn and the lock share one busy timeout."""
BUSY_TIMEOUT_MS = "entropy_budget_busy_timeout_ms"
"""The busy timeout a pooled SQLite connection has now (`Connection.info`)."""


def database_url(raw: str) -> URL:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick their drivers."""
    url = make_url(raw)
    if url.drivername == "sqlite":
        return url.set(drivername="sqlite+pysqlite")
    if url.drivername in {"postgresql", "postgres"}:
        return url.set(drivername="postgresql+psycopg")
    return url


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def create_db_engine(settings: Settings, *, pooled: bool = True) -> Engine:
    url = database_url(settings.database_url)
    if is_sqlite(url):
        return _sqlite_engine(url, settings, pooled=pooled)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if pooled:
        options |= {
            "pool_size": settings.database_pool_size,
            "max_overflow": settings.database_max_overflow,
            "pool_timeout": settings.database_pool_timeout_seconds,
        }
    else:
        options["poolclass"] = NullPool
    return create_engine(
        url,
        connect_args={
            "connect_timeout": settings.database_connect_timeout_seconds,
            "application_name": "entropy-budget",
        },
        **options,
    )


def _sqlite_engine(url: URL, settings: Settings, *, pooled: bool) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    engine = create_engine(url, connect_args={"check_same_thread": False}, **options)
    busy_timeout_ms = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN instead of pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        deadline = options.get(LOCK_DEADLINE)
        wait_ms = (
            busy_timeout_ms
            if deadline is None
            else min(busy_timeout_ms, max(0, int((deadline - time.monotonic()) * 1000)))
        )
        if connection.info.get(BUSY_TIMEOUT_MS, busy_timeout_ms) != wait_ms:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms}")
            connection.info[BUSY_TIMEOUT_MS] = wait_ms
        writes = options.get(WRITE_TRANSACTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


class WritersTurn:
    """The reading batches of one SQLite file take turns on an flock of `<file>-writers`
    before SQLite's write lock: the kernel hands the turn to the next the moment it is free,
    where SQLite's busy handler sleeps up to 100 ms between tries.

    Within a process, writers first queue on a lock of their own, so one at most waits in the
    kernel. flock cannot time out, so that one waits through a daemon thread: after `timeout`
    (SQLite's busy timeout; a 503) it gives up instead of waiting forever behind a stalled
    holder, and the thread hands the abandoned turn straight back. The block gets the deadline
    of that same timeout: SQLite's lock gets only what the turn left of it
    (`Database.session`). A file that cannot be opened (a read-only directory, another
    user's) leaves the writers to SQLite's busy handler, as before."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._in_process = threading.Lock()

    @contextmanager
    def __call__(self) -> Iterator[float]:
        deadline = time.monotonic() + self.timeout
        if not self._in_process.acquire(timeout=self.timeout):
            raise _turn_timeout(self.timeout)
        try:
            try:
                queue = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
            except OSError as error:
                logger.warning("no writers' turn, SQLite's busy handler instead: %s", error)
                yield deadline
                return
            try:
                self._take(queue, max(deadline - time.monotonic(), 0.0))
                yield deadline
            finally:
                os.close(queue)  # gives the turn back
        finally:
            self._in_process.release()

    def _take(self, queue: int, timeout: float) -> None:
        try:
            fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waiter = os.dup(queue)  # the same open file: the lock the thread takes is the writer's
        taken = threading.Event()
        try:
            threading.Thread(
                target=_lock_then_close, args=(waiter, taken), name="sqlite-turn", daemon=True
            ).start()
        except BaseException:
            os.close(waiter)
            raise
        if not taken.wait(timeout):
            raise _turn_timeout(self.timeout)


def _lock_then_close(waiter: int, taken: threading.Event) -> None:
    """Wait for the turn on the writer's open file. Closing this descriptor keeps the lock
    while the writer's own is open, and releases it once the writer has given up."""
    try:
        fcntl.flock(waiter, fcntl.LOCK_EX)
    finally:
        os.close(waiter)
    taken.set()


def _turn_timeout(timeout: float) -> PoolTimeoutError:
    return PoolTimeoutError(f"another SQLite writer kept its turn for over {timeout:g} s")


class Database:
    """One engine per process and the two session factories over it.

    With a `sink`, what each transaction writes is counted into it when it commits
    (`app.core.telemetry`)."""

    def __init__(
        self,
        engine: Engine,
        sink: TallySink | None = None,
        *,
        turn_timeout_seconds: float = DEFAULT_TURN_TIMEOUT_SECONDS,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # PostgreSQL reads see one snapshot for the whole request (statistics = aggregate +
        # latest record); SQLite's deferred transactions already read from one snapshot.
        # Writes run in READ COMMITTED whatever the server's default: each statement after a
        # job's lock must see what the lock's previous holder committed (app.core.locking).
        readers, writers = engine, engine.execution_options(**{WRITE_TRANSACTION: True})
        if self.dialect == "postgresql":
            readers = engine.execution_options(isolation_level="REPEATABLE READ")
            writers = writers.execution_options(isolation_level="READ COMMITTED")
        queue = _writers_queue_path(engine.url)
        self._writers_turn = None if queue is None else WritersTurn(queue, turn_timeout_seconds)
        self._read_sessions = sessionmaker(readers, expire_on_commit=False)
        self._write_sessions = sessionmaker(writers, expire_on_commit=False)
        if sink is not None:
            counting_sessions(self._read_sessions, sink)
            counting_sessions(self._write_sessions, sink)

    def session(self, *, write: bool, lock_deadline: float | None = None) -> Session:
        """With a `lock_deadline` (a writer's turn's), the session begins at once, and on
        SQLite waits for the database's lock only until then."""
        session = (self._write_sessions if write else self._read_sessions)()
        if lock_deadline is not None:
            try:
                session.connection(execution_options={LOCK_DEADLINE: lock_deadline})
            except BaseException:
                session.close()
                raise
        return session

    def writing_turn(self) -> AbstractContextManager[float | None]:
        """On a SQLite file, this writer's turn (`WritersTurn`) for the block, which gets the
        deadline for SQLite's lock; elsewhere (PostgreSQL's row locks) nothing, and none."""
        return nullcontext() if self._writers_turn is None else self._writers_turn()

    def dispose(self) -> None:
        self.engine.dispose()


def _writers_queue_path(url: URL) -> Path | None:
    """Beside the database file, named as pysqlite names the file (no `~` expansion); none
    for an in-memory database or a `file:` URI."""
    database = url.database
    if not is_sqlite(url) or not database or database == ":memory:":
        return None
    if database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(os.path.abspath(f"{database}-writers"))


def get_session(
    request: Request,
    idempotent: IdempotencyKeyDep,
) -> Iterator[Session]:
    """One transaction per request: committed when the endpoint succeeds, else rolled back.

    Used with scope="function" so the commit happens before the response is sent: a client
    never sees a 2xx for a write that then failed to commit. A POST with an Idempotency-Key
    claims it first, in this same transaction (see `app.core.idempotency_http`).
    """
    database: Database = request.app.state.database
    with database.session(write=request.method not in SAFE_METHODS) as session:
        try:
            if idempotent is not None:
                claim_key(request, session, idempotent)
            request.state.db_session = session
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


DbSession = Annotated[Session, Depends(get_session, scope="function")]
