"""Per-job serialisation of read-modify-write sequences, across threads, processes and replicas.

PostgreSQL: transaction-scoped advisory locks (released by commit or rollback).
SQLite: the write transaction began with BEGIN IMMEDIATE and already holds the database's only
write lock, so there is nothing more to take; we only check that it really is a write transaction.
Lock order is global: jobs sorted by name, then the quarantine-revisit lock.
"""

import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.db import WRITE_TRANSACTION

_REVISIT_LOCK_NAMESPACE = 0x45420001
"""Two-int advisory key space, which PostgreSQL keeps apart from the one-bigint space of jobs."""


def job_lock_key(job_hash: str) -> int:
    digest = hashlib.blake2b(job_hash.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_jobs(session: Session, job_hashes: Iterable[str]) -> None:
    """Block until this transaction alone may derive new records for these jobs."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        _require_write_transaction(session)
        return
    keys = [job_lock_key(job_hash) for job_hash in sorted(set(job_hashes))]
    if not keys:
        return
    # One round trip for a whole batch; WITH ORDINALITY keeps the locks taken in job order.
    connection.execute(
        text(
            "SELECT pg_advisory_xact_lock(t.key) FROM "
            "unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS t(key, position) "
            "ORDER BY t.position"
        ),
        {"keys": keys},
    )


def lock_quarantine_revisits(session: Session) -> None:
    """Serialise quarantine revisits of all jobs: two responses never revisit the same pattern."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        _require_write_transaction(session)
        return
    connection.execute(
        text("SELECT pg_advisory_xact_lock(CAST(:namespace AS integer), 1)"),
        {"namespace": _REVISIT_LOCK_NAMESPACE},
    )


def _require_write_transaction(session: Session) -> None:
    if not session.connection().get_execution_options().get(WRITE_TRANSACTION, False):
        raise RuntimeError("a read-modify-write must run in a write transaction")
