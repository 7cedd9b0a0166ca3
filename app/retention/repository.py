"""Pruning SQL: one bounded batch at a time, walking each history's (time, seq) index from its
oldest row, so a batch costs what it deletes however much was deleted before it.

Each batch resumes after the last row the previous one looked at (keyset), so it never rescans
the index entries of rows already deleted, which PostgreSQL keeps until VACUUM. On PostgreSQL
the candidates are taken FOR UPDATE SKIP LOCKED: two workers pruning at once share the work
instead of waiting on each other.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.core.orm import Base, table_of
from app.models import (
    EntropyResponse,
    ExplorationBudget,
    JobHead,
    PatternApplication,
    PatternEntropySnapshot,
)

Position = tuple[datetime, int]
"""Where a pass is in a history: the (time, seq) of the last row it looked at."""


@dataclass(frozen=True)
class History:
    model: type[Base]
    at: InstrumentedAttribute[datetime]
    seq: InstrumentedAttribute[int]
    kept: ColumnElement[bool] | None
    """Rows never pruned, however old."""

    @property
    def table(self) -> str:
        return table_of(self.model).name


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
)


def _prunable(history: History, cutoff: datetime) -> list[ColumnElement[bool]]:
    conditions = [history.at < cutoff]
    if history.kept is not None:
        conditions.append(~history.kept)
    return conditions


def prune_batch(
    session: Session, history: History, cutoff: datetime, after: Position | None, limit: int
) -> tuple[int, Position | None]:
    """Delete up to `limit` prunable rows after `after`, oldest first. Returns how many were
    deleted and where the next batch starts (None: nothing left to look at)."""
    candidates = (
        select(history.seq, history.at)
        .where(*_prunable(history, cutoff))
        .order_by(history.at, history.seq)
        .limit(limit)
    )
    if after is not None:
        candidates = candidates.where(tuple_(history.at, history.seq) > tuple_(*after))
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(of=table_of(history.model), skip_locked=True)
    rows = session.execute(candidates).all()
    if not rows:
        return 0, None
    deleted: Any = session.execute(
        delete(table_of(history.model)).where(history.seq.in_([row[0] for row in rows]))
    )
    last = rows[-1]
    return int(deleted.rowcount), (None if len(rows) < limit else (last[1], last[0]))


def count_prunable(session: Session, history: History, cutoff: datetime) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(history.model).where(*_prunable(history, cutoff))
        )
        or 0
    )


def oldest(session: Session, history: History) -> datetime | None:
    """The time of the history's oldest row (by its index: one row read)."""
    return session.scalar(select(history.at).order_by(history.at, history.seq).limit(1))
