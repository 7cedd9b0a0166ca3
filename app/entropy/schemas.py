"""Pattern entropy metrics and their recorded snapshots."""

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from app.core.pagination import Page
from app.core.schemas import Identifier, Record, RequestBody, UnitInterval
from app.diversity.schemas import HalfLifeSeconds, Scope

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
    "scope": {"job_hash": "nightly-etl", "half_life_seconds": 300},
    "weighted_applications": 3.62,
}


class PatternEntropyMetrics(Record):
    """Shannon entropy (bits) of the application weights in a scope, and its share of the
    maximum. All-time, weights are counts; with a half-life, an application applied at t
    weighs 2^-((calculated_at - t) / half-life), and only the patterns weighing at least 2^-20
    of the heaviest count (`effective_pattern_count`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [METRICS_EXAMPLE]})

    calculated_at: datetime = Field(description="When it was computed.")
    shannon_entropy: float = Field(
        description="The Shannon entropy, in bits, of how the applications spread "
        "over the patterns.",
    )
    max_possible_entropy: float = Field(
        description="log2 of the number of patterns applied (1 when at most one was): "
        "the entropy of an even spread.",
    )
    diversity_index: float = Field(
        description="`shannon_entropy / max_possible_entropy`, 0..1: 1 is an even "
        "spread, 0 a single pattern (or nothing applied).",
    )
    unique_pattern_count: int = Field(description="How many patterns were counted, applied or not.")
    effective_pattern_count: int = Field(description="How many of them were applied at least once.")
    total_applications: int = Field(description="How many applications were counted.")
    dominant_pattern_share: float = Field(
        description="The most applied pattern's share of the applications, 0..1.",
    )
    threshold_exceeded: bool = Field(
        description="Whether `diversity_index` is below the alert threshold given "
        "(false without one).",
    )
    scope: Scope = Field(description="The applications measured.")
    weighted_applications: float = Field(
        description="The sum of every pattern's weight in the scope at `calculated_at` (the "
        "application count when all-time); `total_applications` stays the count."
    )


class PatternEntropySnapshot(PatternEntropyMetrics):
    """A recorded measurement: its id and the metrics, scope included. Snapshots recorded
    before scopes existed are global and all-time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "c0ffee00-1d2e-4f5a-9b8c-7d6e5f4a3b2c", **METRICS_EXAMPLE}]
        }
    )

    id: str = Field(description="The snapshot's id (a UUID).")

    @model_validator(mode="before")
    @classmethod
    def _scope_from_columns(cls, data: Any) -> Any:
        """Rows (ORM or Core, as exports read them) keep the scope in two columns."""
        if isinstance(data, dict | PatternEntropyMetrics):
            return data
        fields = {name: getattr(data, name) for name in cls.model_fields if name != "scope"}
        return fields | {"scope": {name: getattr(data, name) for name in Scope.model_fields}}


class PatternEntropySnapshotPage(Page[PatternEntropySnapshot]):
    """A page of diversity snapshots, newest first."""


class SnapshotRequest(RequestBody):
    """Options of a snapshot; the body may be left out."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"alert_threshold": 0.3},
                {"alert_threshold": 0.3, "job_hash": "nightly-etl", "half_life_seconds": 300},
            ]
        }
    )

    alert_threshold: UnitInterval | None = Field(
        default=None, description="Sets `threshold_exceeded` when diversity is below it."
    )
    job_hash: Identifier | None = Field(
        default=None, description="Measure this job's applications only; absent: every job's."
    )
    half_life_seconds: HalfLifeSeconds | None = Field(
        default=None, description="Decay with this registered half-life; absent: all-time."
    )


SnapshotScopeFilter = Literal["global", "job"]
