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

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.db import WRITE_TRANSACTION
from app.core.orm import dialect_insert, table_of
from app.models import JobHead

_REVISIT_LOCK_NAMESPACE = 0x45420001
"""A PostgreSQL advisory lock key (two-int space) for quarantine revisits."""


@dataclass(frozen=True)
class LockedHead:
    """A locked job's head as last committed (all None for a job new to this transaction)."""

    budget_job_seq: int | None
    budget_value: float | None
    budget_recorded_at: datetime | None
    last_response_at: datetime | None
    policy_version: int | None


def lock_jobs(session: Session, job_hashes: Iterable[str]) -> dict[str, LockedHead]:
    """Block until this transaction alone may derive new records for these jobs; return where
    each job's chains end."""
    _require_write_transaction(session)
    jobs = sorted(set(job_hashes))
    if not jobs:
        return {}
    heads = table_of(JobHead)
    upsert = dialect_insert(session, heads).values([{"job_hash": job} for job in jobs])
    rows = session.execute(
        upsert.on_conflict_do_update(
            index_elements=[heads.c.job_hash], set_={"job_hash": upsert.excluded.job_hash}
        ).returning(
            heads.c.job_hash,
            heads.c.budget_job_seq,
            heads.c.budget_value,
            heads.c.budget_recorded_at,
            heads.c.last_response_at,
            heads.c.policy_version,
        )
    )
    return {job_hash: LockedHead(*head) for job_hash, *head in rows}


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
