"""Jobs: listing, per-job policy, readings and selections (the orchestrator path)."""

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, ValidationError, model_validator

from app.budget.schemas import BudgetRecord, check_bounds
from app.core.pagination import Page
from app.core.problems import validation_problem_from
from app.core.schemas import Identifier, RequestBody, ShortText, UnitInterval
from app.responses.schemas import EntropyResponseRecord, QuarantineRevisits

CooldownSeconds = Annotated[int, Field(ge=0, le=31_536_000)]
DecayRate = Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]


class JobSummary(BaseModel):
    job_hash: str
    budget: BudgetRecord


class JobPage(Page[JobSummary]):
    pass


class ResponsePolicy(RequestBody):
    enabled: bool
    threshold: UnitInterval
    cooldown_seconds: CooldownSeconds
    boost_budget: bool
    revisit_quarantine: bool
    max_quarantine_revisits: QuarantineRevisits
    budget_boost_amount: UnitInterval


class Policy(RequestBody):
    """A job's complete policy: the budget rule's numbers and the automatic response's."""

    floor: UnitInterval
    ceiling: UnitInterval
    decay_rate: DecayRate
    boost_amount: UnitInterval
    entropy_threshold: UnitInterval
    initial_budget: UnitInterval
    response: ResponsePolicy

    @model_validator(mode="after")
    def _initial_within_bounds(self) -> Self:
        check_bounds(self.floor, self.ceiling)
        if not self.floor <= self.initial_budget <= self.ceiling:
            raise ValueError(
                f"initial_budget ({self.initial_budget}) must lie within "
                f"floor..ceiling ({self.floor}..{self.ceiling})"
            )
        return self


class ResponsePolicyChanges(RequestBody):
    enabled: bool | None = None
    threshold: UnitInterval | None = None
    cooldown_seconds: CooldownSeconds | None = None
    boost_budget: bool | None = None
    revisit_quarantine: bool | None = None
    max_quarantine_revisits: QuarantineRevisits | None = None
    budget_boost_amount: UnitInterval | None = None


class PolicyChanges(RequestBody):
    """Any subset of a policy; absent (or null) fields keep the base they are applied to."""

    floor: UnitInterval | None = None
    ceiling: UnitInterval | None = None
    decay_rate: DecayRate | None = None
    boost_amount: UnitInterval | None = None
    entropy_threshold: UnitInterval | None = None
    initial_budget: UnitInterval | None = None
    response: ResponsePolicyChanges | None = None

    def apply_to(self, base: Policy, *, location: tuple[str, ...]) -> Policy:
        """The base with these changes, validated as a whole (a 422 at `location` if not)."""
        merged: dict[str, Any] = base.model_dump()
        changes = self.model_dump(exclude_none=True)
        merged["response"].update(changes.pop("response", {}))
        merged.update(changes)
        try:
            return Policy.model_validate(merged)
        except ValidationError as error:
            raise validation_problem_from(error, location) from None


class ReadingRequest(RequestBody):
    entropy: UnitInterval | None = Field(
        default=None,
        description="The measured diversity; absent: the current pattern diversity is used.",
    )
    policy: PolicyChanges | None = Field(
        default=None, description="Overrides of the job's policy for this request only."
    )


ReadingCheckStatus = Literal["cooldown", "no_data", "below_threshold", "healthy", "disabled"]


class ReadingCheck(BaseModel):
    needs_response: bool
    reason: str
    status: ReadingCheckStatus


class ReadingResult(BaseModel):
    adjustment: BudgetRecord
    response: EntropyResponseRecord | None
    response_check: ReadingCheck
    budget: BudgetRecord = Field(description="The job's budget after every step.")


class SelectionRequest(RequestBody):
    execution_id: ShortText
    candidates: list[Identifier] | None = Field(
        default=None, min_length=1, max_length=1000, description="Default: every pattern."
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Makes the pick reproducible."
    )


class SelectionResult(BaseModel):
    pattern_id: str
    application_id: str
    mode: Literal["explore", "exploit"]
    budget_value: float
