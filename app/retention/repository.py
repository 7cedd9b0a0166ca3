"""Pruning SQL: one bounded batch at a time, walking each history's (time, seq) index from its
oldest row, so a batch costs what it deletes however much was deleted before it.

Each batch resumes after the last row the previous one looked at (keyset), so it never rescans
the index entries of rows already deleted, which PostgreSQL keeps until VACUUM. On PostgreSQL
the candidates are taken FOR UPDATE SKIP LOCKED: two workers pruning at once share the work
instead of waiting on each other.

A history's row may own rows of another table (a webhook message its deliveries): they are
deleted with it, in its batch, and one of them can keep it (a delivery still pending).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.core.orm import Base, table_of
from app.models import (
    EntropyResponse,
    ExplorationBudget,
    JobHead,
    PatternApplication,
    PatternEntropySnapshot,
    WebhookDelivery,
    WebhookMessage,
)

Position = tuple[datetime, int]
"""Where a pass is in a history: the (time, seq) of the last row it looked at."""


@dataclass(frozen=True)
class Dependents:
    """Rows of another table that belong to a history's row and are deleted with it."""

    model: type[Base]
    seq: InstrumentedAttribute[int]
    parent: InstrumentedAttribute[int]
    """The column holding the owner's seq."""
    holds: ColumnElement[bool]
    """A dependent row like this keeps its owner (and so itself), however old."""

    @property
    def table(self) -> str:
        return table_of(self.model).name


@dataclass(frozen=True)
class History:
    model: type[Base]
    at: InstrumentedAttribute[datetime]
    seq: InstrumentedAttribute[int]
    kept: ColumnElement[bool] | None
    """Rows never pruned, however old."""
    dependents: Dependents | None = None

    @property
    def table(self) -> str:
        return table_of(self.model).name

    @property
    def tables(self) -> list[str]:
        """The tables a pass removes rows from: the history's, then its dependents'."""
        return [self.table] + ([self.dependents.table] if self.dependents else [])


OUTBOX = History(
    WebhookMessage,
    WebhookMessage.occurred_at,
    WebhookMessage.seq,
    # Not fanned out yet: its deliveries are still to be made. The newest message: on SQLite a
    # seq is a rowid, reused once the largest is deleted, and an endpoint gets the messages
    # above the last seq there was when it was created (`after_message_seq`).
    kept=or_(
        WebhookMessage.fanned_out.is_(False),
        WebhookMessage.seq
        == select(func.max(WebhookMessage.seq)).correlate(None).scalar_subquery(),
    ),
    dependents=Dependents(
        WebhookDelivery,
        WebhookDelivery.seq,
        WebhookDelivery.message_seq,
        holds=WebhookDelivery.status == "pending",
    ),
)
"""Webhook messages, pruned with their deliveries once every delivery is final, by the time
their event occurred: the message's creation (the outbox row is written in the event's own
transaction). Not by the last attempt: that time is on the deliveries, which no index walks
oldest first, and a retention of days outlasts the retry schedule anyway. The attempts log
(in fan-out order, which follows this time) thus loses its oldest entries first, no holes."""


HISTORIES = (
    History(
        ExplorationBudget,
        ExplorationBudget.recorded_at,
        ExplorationBudget.seq,
        # Each job's latest record: where its chain continues, and its current budget.
        kept=exists().where(
            and_(
                JobHead.job_hash == ExplorationBudget.job_hash,
                JobHead.budget_job_seq == ExplorationBudget.job_seq,
            )
        ),
    ),
    History(
        EntropyResponse,
        EntropyResponse.recorded_at,
        EntropyResponse.seq,
        # Each job's latest response: the check's cooldown reads it.
        kept=exists().where(
            and_(
                JobHead.job_hash == EntropyResponse.job_hash,
                JobHead.last_response_at == EntropyResponse.recorded_at,
            )
        ),
    ),
    History(
        PatternEntropySnapshot,
        PatternEntropySnapshot.calculated_at,
        PatternEntropySnapshot.seq,
        kept=None,
    ),
    History(PatternApplication, PatternApplication.applied_at, PatternApplication.seq, kept=None),
    OUTBOX,
)


def _prunable(history: History, cutoff: datetime) -> list[ColumnElement[bool]]:
    conditions = [history.at < cutoff]
    if history.kept is not None:
        conditions.append(~history.kept)
    if history.dependents is not None:
        dependents = history.dependents
        conditions.append(~exists().where(dependents.parent == history.seq, dependents.holds))
    return conditions


def prune_batch(
    session: Session, history: History, cutoff: datetime, after: Position | None, limit: int
) -> tuple[dict[str, int], Position | None]:
    """Delete up to `limit` prunable rows after `after`, oldest first, with their dependents.
    Returns how many rows were deleted from each table and where the next batch starts (None:
    nothing left to look at)."""
    candidates = (
        select(history.seq, history.at)
        .where(*_prunable(history, cutoff))
        .order_by(history.at, history.seq)
        .limit(limit)
        # Rendered only on PostgreSQL; on SQLite, BEGIN IMMEDIATE already serialises pruners.
        .with_for_update(of=table_of(history.model), skip_locked=True)
    )
    if after is not None:
        candidates = candidates.where(tuple_(history.at, history.seq) > tuple_(*after))
    rows = session.execute(candidates).all()
    deleted = dict.fromkeys(history.tables, 0)
    if not rows:
        return deleted, None
    seqs = [row[0] for row in rows]
    if history.dependents is not None:
        seqs, deleted[history.dependents.table] = _delete_dependents(
            session, history.dependents, seqs
        )
    result: Any = session.execute(delete(table_of(history.model)).where(history.seq.in_(seqs)))
    deleted[history.table] = int(result.rowcount)
    last = rows[-1]
    return deleted, (None if len(rows) < limit else (last[1], last[0]))


def _delete_dependents(
    session: Session, dependents: Dependents, owners: list[int]
) -> tuple[list[int], int]:
    """Delete the dependents of `owners`; returns the owners left to delete, and how many
    dependents went. The dependents are locked first and read as they are now: one that came
    to hold its owner since the candidates were read (a redelivery asked for meanwhile, on
    PostgreSQL) keeps it, and one being changed right now is waited for, then read."""
    rows = session.execute(
        select(dependents.parent, dependents.holds)
        .where(dependents.parent.in_(owners))
        .order_by(dependents.seq)
        .with_for_update(of=table_of(dependents.model))
    ).all()
    held = {parent for parent, holds in rows if holds}
    owners = [seq for seq in owners if seq not in held]
    result: Any = session.execute(
        delete(table_of(dependents.model)).where(dependents.parent.in_(owners))
    )
    return owners, int(result.rowcount)


def count_prunable(session: Session, history: History, cutoff: datetime) -> dict[str, int]:
    """How many rows a pass would delete from each table (a dry run)."""
    prunable = select(history.seq).where(*_prunable(history, cutoff))
    counts = {history.table: _count(session, history.model, history.seq.in_(prunable))}
    if history.dependents is not None:
        dependents = history.dependents
        counts[dependents.table] = _count(
            session, dependents.model, dependents.parent.in_(prunable)
        )
    return counts


def _count(session: Session, model: type[Base], where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(where)) or 0)


def oldest(session: Session, history: History) -> datetime | None:
    """The time of the history's oldest row (by its index: one row read)."""
    return session.scalar(select(history.at).order_by(history.at, history.seq).limit(1))
