"""Queries on `pattern_entropy_history`."""

from app.core.repository import HistoryRepository
from app.models import PatternEntropySnapshot


class SnapshotRepository(HistoryRepository[PatternEntropySnapshot]):
    model = PatternEntropySnapshot
    at = PatternEntropySnapshot.calculated_at
    noun = "pattern entropy snapshot"
    latest_noun = "pattern entropy snapshot"

    def add(self, snapshot: PatternEntropySnapshot) -> PatternEntropySnapshot:
        self.session.add(snapshot)
        self.session.flush()
        return snapshot
