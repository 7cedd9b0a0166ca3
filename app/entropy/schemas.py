"""Pattern entropy metrics and their recorded snapshots."""

from datetime import datetime

from app.core.pagination import Page
from app.core.schemas import Record, RequestBody, UnitInterval


class PatternEntropyMetrics(Record):
    calculated_at: datetime
    shannon_entropy: float
    max_possible_entropy: float
    diversity_index: float
    unique_pattern_count: int
    effective_pattern_count: int
    total_applications: int
    dominant_pattern_share: float
    threshold_exceeded: bool


class PatternEntropySnapshot(PatternEntropyMetrics):
    id: str


class PatternEntropySnapshotPage(Page[PatternEntropySnapshot]):
    pass


class SnapshotRequest(RequestBody):
    alert_threshold: UnitInterval | None = None
