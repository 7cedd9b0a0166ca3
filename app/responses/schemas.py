"""Entropy response requests, records, checks and statistics."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, model_validator

from app.budget import rules as budget_rules
from app.budget.schemas import check_bounds
from app.core.pagination import Page
from app.core.schemas import Identifier, Record, RequestBody, UnitInterval
from app.responses import rules
from app.responses.rules import CheckStatus

ResponseAction = Literal["budget_boost", "quarantine_revisit"]
QuarantineRevisits = Annotated[int, Field(ge=0, le=100)]


class TriggerContext(RequestBody):
    job_hash: Identifier
    entropy_at_trigger: UnitInterval
    threshold_used: UnitInterval


class ResponseConfig(RequestBody):
    boost_budget: bool = True
    revisit_quarantine: bool = True
    max_quarantine_revisits: QuarantineRevisits = rules.DEFAULT_MAX_QUARANTINE_REVISITS
    budget_floor: UnitInterval = budget_rules.DEFAULT_FLOOR
    budget_ceiling: UnitInterval = budget_rules.DEFAULT_CEILING
    budget_boost_amount: UnitInterval = budget_rules.DEFAULT_BOOST_AMOUNT

    @model_validator(mode="after")
    def _floor_not_above_ceiling(self) -> Self:
        check_bounds(self.budget_floor, self.budget_ceiling)
        return self

    @property
    def bounds(self) -> budget_rules.Bounds:
        return budget_rules.Bounds(self.budget_floor, self.budget_ceiling)


class TriggerRequest(RequestBody):
    trigger: TriggerContext
    config: ResponseConfig = Field(default_factory=ResponseConfig)


class EntropyResponseRecord(Record):
    id: str
    job_hash: str
    recorded_at: datetime
    entropy_at_trigger: float
    threshold_used: float
    actions_taken: list[ResponseAction]
    budget_boosted: bool
    quarantine_revisits: int
    patterns_revisited: list[str]


class EntropyResponsePage(Page[EntropyResponseRecord]):
    pass


class ResponseCheck(BaseModel):
    needs_response: bool
    current_entropy: float | None = Field(
        description="The diversity index; null in cooldown and when there is no data."
    )
    reason: str
    status: CheckStatus


class ResponseStatistics(BaseModel):
    total_responses: int
    avg_entropy_at_trigger: float
    budget_boosts: int
    quarantine_revisits: int
    last_response: datetime | None
