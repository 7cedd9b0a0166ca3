"""Request and response bodies of the exploration-budget endpoints."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from app.budget import rules
from app.core.pagination import Page
from app.core.schemas import Identifier, LongText, Record, RequestBody, UnitInterval

AdjustmentType = Literal[
    "initial", "decay", "boost", "floor_enforced", "ceiling_enforced", "manual"
]
DecayRate = Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]


def check_bounds(floor: float, ceiling: float) -> None:
    if floor > ceiling:
        raise ValueError(f"floor ({floor}) must not exceed ceiling ({ceiling})")


class BudgetRecord(Record):
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
    floor: UnitInterval = rules.DEFAULT_FLOOR
    ceiling: UnitInterval = rules.DEFAULT_CEILING

    @model_validator(mode="after")
    def _floor_not_above_ceiling(self) -> Self:
        check_bounds(self.floor, self.ceiling)
        return self

    @property
    def bounds(self) -> rules.Bounds:
        return rules.Bounds(self.floor, self.ceiling)


class BudgetUpdate(BoundedBody):
    """A budget value set directly; clamped and relabelled when outside floor..ceiling."""

    job_hash: Identifier
    budget_value: UnitInterval
    adjustment_type: AdjustmentType
    entropy_at_time: UnitInterval | None = None
    adjustment_reason: LongText | None = None


class BudgetAdjustmentRequest(BoundedBody):
    """An entropy measurement from which the next budget is derived."""

    job_hash: Identifier
    current_entropy: UnitInterval
    decay_rate: DecayRate = rules.DEFAULT_DECAY_RATE
    boost_amount: UnitInterval = rules.DEFAULT_BOOST_AMOUNT
    entropy_threshold: UnitInterval = rules.DEFAULT_ENTROPY_THRESHOLD
    initial_budget: UnitInterval = rules.INITIAL_BUDGET

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
