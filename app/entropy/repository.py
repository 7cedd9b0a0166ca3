"""Queries on `pattern_entropy_history`."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.core.pagination import PageRequest, TimeWindow, keyset_page
from app.models import PatternEntropySnapshot


def history_rows() -> Select[Any]:
    """The history's rows as Core rows (every column), for exports; unordered."""
    return select(PatternEntropySnapshot.__table__)


class SnapshotRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, snapshot: PatternEntropySnapshot) -> PatternEntropySnapshot:
        self.session.add(snapshot)
        self.session.flush()
        return snapshot

    def get(self, snapshot_id: str) -> PatternEntropySnapshot | None:
        statement = select(PatternEntropySnapshot).where(PatternEntropySnapshot.id == snapshot_id)
        return self.session.scalars(statement).first()

    def history(
        self, page: PageRequest, window: TimeWindow
    ) -> tuple[Sequence[PatternEntropySnapshot], str | None]:
        return keyset_page(
            self.session,
            select(PatternEntropySnapshot),
            at=PatternEntropySnapshot.calculated_at,
            seq=PatternEntropySnapshot.seq,
            page=page,
            window=window,
        )
