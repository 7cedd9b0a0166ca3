"""Pattern entropy metrics and their recorded snapshots."""

from datetime import datetime
from typing import Any

from pydantic import ConfigDict

from app.core.pagination import Page
from app.core.schemas import Record, RequestBody, UnitInterval

METRICS_EXAMPLE: dict[str, Any] = {
    "calculated_at": "2026-03-01T12:00:07.5Z",
    "shannon_entropy": 0.811278,
    "max_possible_entropy": 1.0,
    "diversity_index": 0.811278,
    "unique_pattern_count": 3,
    "effective_pattern_count": 2,
    "total_applications": 4,
    "dominant_pattern_share": 0.75,
    "threshold_exceeded": False,
}


class PatternEntropyMetrics(Record):
    """Shannon entropy (bits) of the application counts, and its share of the maximum."""

    model_config = ConfigDict(json_schema_extra={"examples": [METRICS_EXAMPLE]})

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "c0ffee00-1d2e-4f5a-9b8c-7d6e5f4a3b2c", **METRICS_EXAMPLE}]
        }
    )

    id: str


class PatternEntropySnapshotPage(Page[PatternEntropySnapshot]):
    pass


class SnapshotRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"alert_threshold": 0.3}]})

    alert_threshold: UnitInterval | None = None
