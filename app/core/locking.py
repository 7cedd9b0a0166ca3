"""Per-job serialisation of read-modify-write sequences, across threads, processes and replicas.

A job's lock is its row in `job_heads`: `lock_jobs` upserts the rows (creating those of new
jobs) and so holds their row locks until commit or rollback, and the same statement returns
each row as last committed, which is where the job's chains end. One round trip locks a whole
batch and reads its tips: on PostgreSQL, INSERT ... ON CONFLICT DO UPDATE waits for a
concurrent holder and then works on the newest row version, whatever the statement's snapshot.
On SQLite, the write transaction began with BEGIN IMMEDIATE and already holds the database's
only write lock; the same statement just reads the rows.

Lock order is global: jobs sorted by name (rows are upserted in that order), then the
quarantine-revisit lock.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import TextualSelect, delete, text
from sqlalchemy.orm import Session

from app.core.db import WRITE_TRANSACTION
from app.core.orm import json_parameter
from app.models import JobHead

_REVISIT_LOCK_NAMESPACE = 0x45420001
"""A PostgreSQL advisory lock key (two-int space) for quarantine revisits."""


@dataclass(frozen=True)
class LockedHead:
    """A locked job's head as last committed (all None for a head created by this lock)."""

    budget_job_seq: int | None
    budget_value: float | None
    budget_recorded_at: datetime | None
    last_response_at: datetime | None
    policy_version: int | None

    @property
    def is_empty(self) -> bool:
        """No chain and no policy yet: the head of a new job, created by this lock."""
        return all(value is None for value in vars(self).values())


def lock_jobs(session: Session, job_hashes: Iterable[str]) -> dict[str, LockedHead]:
    """Block until this transaction alone may derive new records for these jobs; return where
    each job's chains end."""
    _require_write_transaction(session)
    jobs = sorted(set(job_hashes))
    if not jobs:
        return {}
    statement = _LOCK_HEADS[session.get_bind().dialect.name]
    rows = session.execute(statement, {"jobs": json_parameter(jobs)})
    return {job_hash: LockedHead(*head) for job_hash, *head in rows}


def drop_unused_heads(session: Session, heads: dict[str, LockedHead], used: Iterable[str]) -> None:
    """Delete the empty heads of locked jobs this transaction wrote nothing for, so that a
    refused write to a new job leaves no row behind (a request that fails as a whole rolls
    back instead; a batch commits its other writes)."""
    unused = sorted(set(heads) - set(used))
    empty = [job_hash for job_hash in unused if heads[job_hash].is_empty]
    if empty:
        session.execute(delete(JobHead).where(JobHead.job_hash.in_(empty)))


_HEAD_COLUMNS = (
    JobHead.job_hash,
    JobHead.budget_job_seq,
    JobHead.budget_value,
    JobHead.budget_recorded_at,
    JobHead.last_response_at,
    JobHead.policy_version,
)


def _lock_heads(jobs_in_order: str) -> TextualSelect:
    """The locking upsert: the jobs' head rows, in job order, from one JSON parameter (one
    statement text whatever the batch, so it is compiled and prepared once)."""
    returned = ", ".join(column.key for column in _HEAD_COLUMNS)
    return text(
        f"INSERT INTO job_heads (job_hash) {jobs_in_order} "
        f"ON CONFLICT (job_hash) DO UPDATE SET job_hash = excluded.job_hash RETURNING {returned}"
    ).columns(*_HEAD_COLUMNS)


_LOCK_HEADS = {
    "postgresql": _lock_heads(
        "SELECT j.job_hash FROM json_array_elements_text(CAST(:jobs AS json)) "
        "WITH ORDINALITY AS j(job_hash, position) ORDER BY j.position"
    ),
    # WHERE true: SQLite's parser needs it between INSERT ... SELECT and ON CONFLICT.
    "sqlite": _lock_heads("SELECT value FROM json_each(:jobs) WHERE true ORDER BY key"),
}


def lock_quarantine_revisits(session: Session) -> None:
    """Serialise quarantine revisits of all jobs: two responses never revisit the same pattern."""
    _require_write_transaction(session)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    connection.execute(
        text("SELECT pg_advisory_xact_lock(CAST(:namespace AS integer), 1)"),
        {"namespace": _REVISIT_LOCK_NAMESPACE},
    )


def _require_write_transaction(session: Session) -> None:
    if not session.connection().get_execution_options().get(WRITE_TRANSACTION, False):
        raise RuntimeError("a read-modify-write must run in a write transaction")
