"""`GET /readyz`: the database answers and its schema is exactly at the migrations' head.

The check is bounded: PostgreSQL statements get a `statement_timeout`, connecting has the
engine's `connect_timeout`, and the answer waits at most `READINESS_TIMEOUT_SECONDS` whatever
the database does (SQLite waiting on a lock included). A check still running when its answer
gave up is shared by the next probes rather than started again, so a stuck database never
piles up threads.
"""

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import inspect, text
from starlette.concurrency import run_in_threadpool

from app.core.db import Database
from app.core.migrations import head_revisions
from app.core.settings import Settings

logger = logging.getLogger("app.readiness")

VERSION_TABLE = "alembic_version"
"""Alembic's default, which alembic/env.py keeps."""


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str
    revision: str | None
    """The database's revision(s), comma-separated; None when unknown or unversioned."""
    head: str | None
    """The migrations' head revision(s), comma-separated; None when they cannot be read."""


def _revisions(revisions: frozenset[str] | tuple[str, ...]) -> str:
    return ", ".join(sorted(revisions))


class ReadinessProbe:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._settings = settings
        self._timeout = settings.readiness_timeout_seconds
        self._heads: frozenset[str] | None = None
        self._running: asyncio.Future[Readiness] | None = None

    async def check(self) -> Readiness:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(run_in_threadpool(self._check))
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), self._timeout)
        except TimeoutError:
            return Readiness(
                ready=False,
                detail=f"database unreachable: no answer within {self._timeout:g} s",
                revision=None,
                head=None if self._heads is None else _revisions(self._heads),
            )

    def _check(self) -> Readiness:
        try:
            if self._heads is None:
                self._heads = head_revisions(self._settings)
        except Exception as error:  # a broken install: the migrations are missing
            logger.exception("cannot read the migrations' head revision")
            return Readiness(False, f"migrations unreadable: {error}", None, None)
        head = _revisions(self._heads)
        try:
            current = self._schema_revisions()
        except Exception as error:  # SQLAlchemy's errors, and whatever a driver lets through
            logger.warning("readiness: database unreachable: %s", error)
            return Readiness(
                ready=False,
                detail=f"database unreachable ({type(error).__name__})",
                revision=None,
                head=head,
            )
        if not current:
            return Readiness(
                ready=False,
                detail=f"schema not migrated (no Alembic revision), head is {head}",
                revision=None,
                head=head,
            )
        revision = _revisions(current)
        if current != self._heads:
            return Readiness(False, f"schema at {revision}, head is {head}", revision, head)
        return Readiness(True, f"schema at head {head}", revision, head)

    def _schema_revisions(self) -> frozenset[str]:
        engine = self._database.engine
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                timeout_ms = max(1, int(self._timeout * 1000))
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout_ms}")
            # Read directly, not with Alembic's MigrationContext: it logs two lines per probe.
            if not inspect(connection).has_table(VERSION_TABLE):
                return frozenset()
            rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            return frozenset(rows.scalars())
