"""Entropy response requests, records, checks and statistics."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.budget import rules as budget_rules
from app.budget.schemas import check_bounds
from app.core import policy_defaults as defaults
from app.core.pagination import Page
from app.core.schemas import INTEGRAL, Identifier, Record, RequestBody, UnitInterval
from app.responses.rules import CheckStatus

ResponseAction = Literal["budget_boost", "quarantine_revisit"]
QuarantineRevisits = Annotated[int, Field(ge=0, le=100), INTEGRAL]


class TriggerContext(RequestBody):
    """What triggered an entropy response."""

    job_hash: Identifier = Field(description="The job whose diversity collapsed.")
    entropy_at_trigger: UnitInterval = Field(
        description="Its entropy when the response was triggered, 0..1.",
    )
    threshold_used: UnitInterval = Field(description="The threshold the entropy fell below, 0..1.")


class ResponseConfig(RequestBody):
    """What an entropy response does."""

    boost_budget: bool = Field(
        default=True,
        description="Whether the response boosts the job's budget.",
    )
    revisit_quarantine: bool = Field(
        default=True,
        description="Whether it sends quarantined patterns back to pending, to be validated again.",
    )
    max_quarantine_revisits: QuarantineRevisits = Field(
        default=defaults.DEFAULT_MAX_QUARANTINE_REVISITS,
        description="At most this many patterns are revisited.",
    )
    budget_floor: UnitInterval = Field(
        default=defaults.DEFAULT_FLOOR,
        description="The floor the boosted budget is kept above.",
    )
    budget_ceiling: UnitInterval = Field(
        default=defaults.DEFAULT_CEILING,
        description="The ceiling the boosted budget is kept below.",
    )
    budget_boost_amount: UnitInterval = Field(
        default=defaults.DEFAULT_RESPONSE_BOOST_AMOUNT,
        description="Added to the budget by the boost.",
    )

    @model_validator(mode="after")
    def _floor_not_above_ceiling(self) -> Self:
        check_bounds(self.budget_floor, self.budget_ceiling)
        return self

    @property
    def bounds(self) -> budget_rules.Bounds:
        return budget_rules.Bounds(self.budget_floor, self.budget_ceiling)


class TriggerRequest(RequestBody):
    """What triggered the response, and how to respond (every config field has a default)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "trigger": {
                        "job_hash": "job-42",
                        "entropy_at_trigger": 0.2,
                        "threshold_used": 0.3,
                    }
                },
                {
                    "trigger": {
                        "job_hash": "job-42",
                        "entropy_at_trigger": 0.12,
                        "threshold_used": 0.3,
                    },
                    "config": {
                        "boost_budget": True,
                        "revisit_quarantine": True,
                        "max_quarantine_revisits": 5,
                        "budget_boost_amount": 0.15,
                    },
                },
            ]
        }
    )

    trigger: TriggerContext = Field(description="What triggered the response.")
    config: ResponseConfig = Field(
        default_factory=ResponseConfig,
        description="What the response does; the defaults when absent.",
    )


class EntropyResponseRecord(Record):
    """A response: the budget boost and the patterns sent back for revalidation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6d2b0a4e-8e0f-4f5e-a1f9-0c7d52f1e3b2",
                    "job_hash": "job-42",
                    "recorded_at": "2026-03-01T12:00:06.000001Z",
                    "entropy_at_trigger": 0.2,
                    "threshold_used": 0.3,
                    "actions_taken": ["budget_boost", "quarantine_revisit"],
                    "budget_boosted": True,
                    "quarantine_revisits": 1,
                    "patterns_revisited": ["decompose-first"],
                }
            ]
        }
    )

    id: str = Field(description="The response's id.")
    job_hash: str = Field(description="The job it responded for.")
    recorded_at: datetime = Field(description="When it was recorded.")
    entropy_at_trigger: float = Field(description="The diversity that triggered it.")
    threshold_used: float = Field(description="The threshold it was below.")
    actions_taken: list[ResponseAction] = Field(
        description="budget_boost, and quarantine_revisit when at least one pattern was revisited."
    )
    budget_boosted: bool = Field(description="Whether the job's budget was boosted.")
    quarantine_revisits: int = Field(description="How many patterns it sent back to pending.")
    patterns_revisited: list[str] = Field(
        description="The ids of those patterns, most recently seen first."
    )


class EntropyResponsePage(Page[EntropyResponseRecord]):
    """A page of entropy responses, newest first."""


class ResponseCheck(BaseModel):
    """Whether an entropy response is due for a job now, and why."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "needs_response": True,
                    "current_entropy": 0.2,
                    "reason": "Entropy 0.200 < threshold 0.300",
                    "status": "below_threshold",
                },
                {
                    "needs_response": False,
                    "current_entropy": None,
                    "reason": "Cooldown active (3542s remaining)",
                    "status": "cooldown",
                },
            ]
        }
    )

    needs_response: bool = Field(description="Whether an entropy response is due.")
    current_entropy: float | None = Field(
        description="The diversity index; null in cooldown and when there is no data."
    )
    reason: str = Field(description="Why, in words.")
    status: CheckStatus = Field(
        description="The check's outcome: `below_threshold` (due), `healthy`, "
        "`cooldown` (too soon after the last one) or `no_data`.",
    )


class ResponseStatistics(BaseModel):
    """Aggregates over the entropy responses of a job (or of every job)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total_responses": 2,
                    "avg_entropy_at_trigger": 0.16,
                    "budget_boosts": 2,
                    "quarantine_revisits": 3,
                    "last_response": "2026-03-01T12:00:06.000001Z",
                }
            ]
        }
    )

    total_responses: int = Field(description="How many entropy responses were recorded.")
    avg_entropy_at_trigger: float = Field(
        description="The mean entropy that triggered them (0 without responses).",
    )
    budget_boosts: int = Field(description="How many boosted a budget.")
    quarantine_revisits: int = Field(
        description="How many patterns they sent back to pending, in all.",
    )
    last_response: datetime | None = Field(
        description="When the latest was recorded; null without any.",
    )
