"""Request and response bodies of the exploration-budget endpoints."""

from datetime import datetime
from typing import Annotated, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from app.budget import rules
from app.budget.rules import AdjustmentType
from app.core import policy_defaults as defaults
from app.core.pagination import Page
from app.core.schemas import Identifier, LongText, Record, RequestBody, UnitInterval

DecayRate = Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]


def check_bounds(floor: float, ceiling: float) -> None:
    if floor > ceiling:
        raise ValueError(f"floor ({floor}) must not exceed ceiling ({ceiling})")


BUDGET_RECORD_EXAMPLE: JsonDict = {
    "id": "0b5e8f0e-6a4c-4d43-9d0f-2f4f7f3c9a11",
    "job_hash": "job-42",
    "recorded_at": "2026-03-01T12:00:05.123456Z",
    "budget_value": 0.25,
    "entropy_at_time": 0.2,
    "adjustment_type": "boost",
    "adjustment_reason": "Entropy 0.200 < threshold 0.300",
}


class BudgetRecord(Record):
    """One step of a job's budget chain."""

    model_config = ConfigDict(json_schema_extra={"examples": [BUDGET_RECORD_EXAMPLE]})

    id: str
    job_hash: str
    recorded_at: datetime
    budget_value: float
    entropy_at_time: float | None
    adjustment_type: AdjustmentType
    adjustment_reason: str | None


class BudgetRecordPage(Page[BudgetRecord]):
    pass


class BoundedBody(RequestBody):
    floor: UnitInterval = defaults.DEFAULT_FLOOR
    ceiling: UnitInterval = defaults.DEFAULT_CEILING

    @model_validator(mode="after")
    def _floor_not_above_ceiling(self) -> Self:
        check_bounds(self.floor, self.ceiling)
        return self

    @property
    def bounds(self) -> rules.Bounds:
        return rules.Bounds(self.floor, self.ceiling)


class BudgetUpdate(BoundedBody):
    """A budget value set directly; clamped and relabelled when outside floor..ceiling."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_hash": "job-42",
                    "budget_value": 0.3,
                    "adjustment_type": "manual",
                    "adjustment_reason": "Operator: explore more during the migration",
                }
            ]
        }
    )

    job_hash: Identifier
    budget_value: UnitInterval
    adjustment_type: AdjustmentType
    entropy_at_time: UnitInterval | None = None
    adjustment_reason: LongText | None = None


class BudgetAdjustmentRequest(BoundedBody):
    """An entropy measurement from which the next budget is derived."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"job_hash": "job-42", "current_entropy": 0.2},
                {"job_hash": "job-42", "current_entropy": 0.8, **defaults.BUDGET_POLICY},
            ]
        }
    )

    job_hash: Identifier
    current_entropy: UnitInterval
    decay_rate: DecayRate = defaults.DEFAULT_DECAY_RATE
    boost_amount: UnitInterval = defaults.DEFAULT_BOOST_AMOUNT
    entropy_threshold: UnitInterval = defaults.DEFAULT_ENTROPY_THRESHOLD
    initial_budget: UnitInterval = defaults.INITIAL_BUDGET

    @property
    def policy(self) -> rules.AdjustmentPolicy:
        return rules.AdjustmentPolicy(
            bounds=self.bounds,
            decay_rate=self.decay_rate,
            boost_amount=self.boost_amount,
            entropy_threshold=self.entropy_threshold,
            initial_budget=self.initial_budget,
        )


class BudgetStatistics(Record):
    """Aggregates over a job's budget history (or every job's)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_budget": 0.2375,
                    "avg_budget": 0.2125,
                    "min_budget": 0.15,
                    "max_budget": 0.25,
                    "total_adjustments": 3,
                    "floor_enforcements": 0,
                    "ceiling_enforcements": 0,
                    "boost_count": 1,
                    "decay_count": 1,
                    "initial_count": 1,
                }
            ]
        }
    )

    current_budget: float | None
    avg_budget: float
    min_budget: float
    max_budget: float
    total_adjustments: int
    floor_enforcements: int
    ceiling_enforcements: int
    boost_count: int
    decay_count: int
    initial_count: int
