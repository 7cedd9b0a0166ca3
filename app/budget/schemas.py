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

    id: str = Field(description="The record's id (a UUID).")
    job_hash: str = Field(description="The job whose budget this is.")
    recorded_at: datetime = Field(description="When the budget took this value (RFC 3339, UTC).")
    budget_value: float = Field(
        description="The exploration budget, 0..1: the probability that a selection "
        "explores (the least-applied eligible pattern) rather than "
        "exploits (the best success rate).",
    )
    entropy_at_time: float | None = Field(
        description="The entropy reading that led to this value; null when the value "
        "was set without one.",
    )
    adjustment_type: AdjustmentType = Field(
        description="How the value came about: the first budget, a decay, a boost, a "
        "clamp to the floor or ceiling, or a manual setting.",
    )
    adjustment_reason: str | None = Field(
        description="Why, in words (`Entropy 0.200 < threshold 0.300`); null when none was given.",
    )


class BudgetRecordPage(Page[BudgetRecord]):
    """A page of budget records, newest first."""


class BoundedBody(RequestBody):
    """The bounds a budget is kept within."""

    floor: UnitInterval = Field(
        default=defaults.DEFAULT_FLOOR,
        description="The lowest budget allowed: a value below it is raised to it (and "
        "labelled `floor_enforced`).",
    )
    ceiling: UnitInterval = Field(
        default=defaults.DEFAULT_CEILING,
        description="The highest budget allowed: a value above it is lowered to it "
        "(and labelled `ceiling_enforced`). Not below `floor`.",
    )

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

    job_hash: Identifier = Field(description="The job whose budget is set.")
    budget_value: UnitInterval = Field(
        description="The new budget, 0..1; clamped to floor..ceiling.",
    )
    adjustment_type: AdjustmentType = Field(
        description="The record's label (`manual` for an operator's choice); a "
        "clamped value is labelled `floor_enforced` or `ceiling_enforced` "
        "instead.",
    )
    entropy_at_time: UnitInterval | None = Field(
        default=None,
        description="The entropy measured when the value was chosen, if any.",
    )
    adjustment_reason: LongText | None = Field(
        default=None,
        description="Why, in words, for the history.",
    )


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

    job_hash: Identifier = Field(description="The job whose budget is adjusted.")
    current_entropy: UnitInterval = Field(
        description="The job's measured entropy (its diversity), 0..1.",
    )
    decay_rate: DecayRate = Field(
        default=defaults.DEFAULT_DECAY_RATE,
        description="The factor the budget is multiplied by when the entropy is at or "
        "above the threshold (0 < rate <= 1).",
    )
    boost_amount: UnitInterval = Field(
        default=defaults.DEFAULT_BOOST_AMOUNT,
        description="Added to the budget when the entropy is below the threshold.",
    )
    entropy_threshold: UnitInterval = Field(
        default=defaults.DEFAULT_ENTROPY_THRESHOLD,
        description="Below it the budget is boosted; at or above it, decayed.",
    )
    initial_budget: UnitInterval = Field(
        default=defaults.INITIAL_BUDGET,
        description="The job's first budget, used when it has no record yet.",
    )

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

    current_budget: float | None = Field(
        description="The latest budget value; null when there is no record.",
    )
    avg_budget: float = Field(
        description="The mean of the recorded budget values (0 without records).",
    )
    min_budget: float = Field(description="The lowest recorded budget value (0 without records).")
    max_budget: float = Field(description="The highest recorded budget value (0 without records).")
    total_adjustments: int = Field(description="How many budget records there are.")
    floor_enforcements: int = Field(description="Records whose value was raised to the floor.")
    ceiling_enforcements: int = Field(description="Records whose value was lowered to the ceiling.")
    boost_count: int = Field(
        description="Records that boosted the budget (entropy below the threshold).",
    )
    decay_count: int = Field(
        description="Records that decayed the budget (entropy at or above the threshold).",
    )
    initial_count: int = Field(description="Initial records: one per job.")
