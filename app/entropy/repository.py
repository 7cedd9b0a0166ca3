"""Queries on `pattern_entropy_history`."""

from app.core.repository import HistoryFilters, HistoryRepository, S
from app.models import PatternEntropySnapshot


class SnapshotRepository(HistoryRepository[PatternEntropySnapshot]):
    model = PatternEntropySnapshot
    at = PatternEntropySnapshot.calculated_at
    noun = "pattern entropy snapshot"

    @classmethod
    def filtered(cls, statement: S, filters: HistoryFilters) -> S:
        """`job_hash`: one job's snapshots; `scope`: `global` keeps the snapshots of every
        job's applications, `job` those of one job's (any job)."""
        filters = dict(filters)
        scope = filters.pop("scope", None)
        if scope == "global":
            statement = statement.where(PatternEntropySnapshot.job_hash.is_(None))
        elif scope == "job":
            statement = statement.where(PatternEntropySnapshot.job_hash.is_not(None))
        return super().filtered(statement, filters)

    def add(self, snapshot: PatternEntropySnapshot) -> PatternEntropySnapshot:
        self.session.add(snapshot)
        self.session.flush()
        return snapshot
