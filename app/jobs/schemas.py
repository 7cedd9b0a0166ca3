"""Jobs: listing, per-job policy, readings and selections (the orchestrator path)."""

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.config import JsonDict

from app.budget.schemas import BUDGET_RECORD_EXAMPLE, BudgetRecord, DecayRate, check_bounds
from app.core import policy_defaults as defaults
from app.core.pagination import Page
from app.core.problems import validation_problem_from
from app.core.schemas import INTEGRAL, Identifier, RequestBody, ShortText, UnitInterval
from app.diversity.schemas import DiversityPolicy, DiversityPolicyChanges, ReadingDiversity
from app.responses.rules import CheckStatus
from app.responses.schemas import EntropyResponseRecord, QuarantineRevisits

CooldownSeconds = Annotated[int, Field(ge=0, le=31_536_000), INTEGRAL]
SelectionMode = Literal["explore", "exploit"]


class JobSummary(BaseModel):
    """A job and its current budget."""

    job_hash: str = Field(description="The job.")
    budget: BudgetRecord = Field(description="Its latest budget record.")


class JobPage(Page[JobSummary]):
    """A page of jobs, most recently active first."""


class ResponsePolicy(RequestBody):
    """When and how the service responds to a collapse of a job's diversity."""

    enabled: bool = Field(description="Whether readings trigger entropy responses.")
    threshold: UnitInterval = Field(
        description="A reading below it triggers a response (outside the cooldown).",
    )
    cooldown_seconds: CooldownSeconds = Field(
        description="The least time between two responses of the job, in seconds.",
    )
    boost_budget: bool = Field(description="Whether a response boosts the budget.")
    revisit_quarantine: bool = Field(
        description="Whether a response sends quarantined patterns back to pending, "
        "to be validated again.",
    )
    max_quarantine_revisits: QuarantineRevisits = Field(
        description="At most this many patterns are revisited by one response.",
    )
    budget_boost_amount: UnitInterval = Field(description="Added to the budget by a response.")


POLICY_EXAMPLE: JsonDict = {
    **defaults.BUDGET_POLICY,
    "response": dict(defaults.RESPONSE_POLICY),
    "diversity": {"scope": "global", "half_life_seconds": None},
}
"""The server's defaults, as a complete policy."""


class Policy(RequestBody):
    """A job's complete policy: the budget rule's numbers and the automatic response's."""

    model_config = ConfigDict(json_schema_extra={"examples": [POLICY_EXAMPLE]})

    floor: UnitInterval = Field(description="The lowest budget allowed, 0..1.")
    ceiling: UnitInterval = Field(
        description="The highest budget allowed, 0..1, not below `floor`.",
    )
    decay_rate: DecayRate = Field(
        description="The factor the budget is multiplied by when a reading is at or "
        "above `entropy_threshold` (0 < rate <= 1).",
    )
    boost_amount: UnitInterval = Field(
        description="Added to the budget when a reading is below `entropy_threshold`.",
    )
    entropy_threshold: UnitInterval = Field(
        description="Below it a reading boosts the budget; at or above it, decays it.",
    )
    initial_budget: UnitInterval = Field(
        description="The job's first budget, within floor..ceiling.",
    )
    response: ResponsePolicy = Field(description="When and how entropy responses run for the job.")
    diversity: DiversityPolicy = Field(
        default_factory=DiversityPolicy,
        description="What a reading without `entropy` measures, and what selections explore "
        "by (default: every job's applications, all-time: the seed's).",
    )

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
    """Changes to the response part of a policy; absent fields are not changed by it."""

    enabled: bool | None = Field(
        default=None,
        description="Whether readings trigger entropy responses.",
    )
    threshold: UnitInterval | None = Field(
        default=None,
        description="A reading below it triggers a response (outside the cooldown).",
    )
    cooldown_seconds: CooldownSeconds | None = Field(
        default=None,
        description="The least time between two responses of the job, in seconds.",
    )
    boost_budget: bool | None = Field(
        default=None,
        description="Whether a response boosts the budget.",
    )
    revisit_quarantine: bool | None = Field(
        default=None,
        description="Whether a response sends quarantined patterns back to pending, "
        "to be validated again.",
    )
    max_quarantine_revisits: QuarantineRevisits | None = Field(
        default=None,
        description="At most this many patterns are revisited by one response.",
    )
    budget_boost_amount: UnitInterval | None = Field(
        default=None,
        description="Added to the budget by a response.",
    )


class PolicyChanges(RequestBody):
    """Any subset of a policy; absent (or null) fields keep the base they are applied to."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"floor": 0.1, "response": {"cooldown_seconds": 600}},
                POLICY_EXAMPLE,
            ]
        }
    )

    floor: UnitInterval | None = Field(
        default=None,
        description="The lowest budget allowed, 0..1.",
    )
    ceiling: UnitInterval | None = Field(
        default=None,
        description="The highest budget allowed, 0..1, not below `floor`.",
    )
    decay_rate: DecayRate | None = Field(
        default=None,
        description="The factor the budget is multiplied by when a reading is at or "
        "above `entropy_threshold` (0 < rate <= 1).",
    )
    boost_amount: UnitInterval | None = Field(
        default=None,
        description="Added to the budget when a reading is below `entropy_threshold`.",
    )
    entropy_threshold: UnitInterval | None = Field(
        default=None,
        description="Below it a reading boosts the budget; at or above it, decays it.",
    )
    initial_budget: UnitInterval | None = Field(
        default=None,
        description="The job's first budget, within floor..ceiling.",
    )
    response: ResponsePolicyChanges | None = Field(
        default=None,
        description="When and how entropy responses run for the job.",
    )
    diversity: DiversityPolicyChanges | None = Field(
        default=None,
        description="The diversity scope readings without `entropy` measure and selections "
        "explore by; absent: unchanged (on PUT: the server default).",
    )

    def apply_to(self, base: Policy, *, location: tuple[str, ...]) -> Policy:
        """The base with these changes, validated as a whole (a 422 at `location` if not)."""
        merged: dict[str, Any] = base.model_dump()
        changes = self.model_dump(exclude_none=True, exclude={"diversity"})
        merged["response"].update(changes.pop("response", {}))
        merged.update(changes)
        if self.diversity is not None:
            # An explicit `half_life_seconds: null` asks for all-time; a null scope keeps it.
            diversity = self.diversity.model_dump(exclude_unset=True)
            if diversity.get("scope") is None:
                diversity.pop("scope", None)
            merged["diversity"].update(diversity)
        try:
            return Policy.model_validate(merged)
        except ValidationError as error:
            raise validation_problem_from(error, location) from None


class ReadingRequest(RequestBody):
    """One entropy measurement of a job, with optional overrides of its policy."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"entropy": 0.2},
                {},
                {"entropy": 0.25, "policy": {"response": {"enabled": False}}},
            ]
        }
    )

    entropy: UnitInterval | None = Field(
        default=None,
        description="The measured diversity; absent: the current diversity over the policy's "
        "scope (`policy.diversity`) is measured and used.",
    )
    policy: PolicyChanges | None = Field(
        default=None, description="Overrides of the job's policy for this request only."
    )


ReadingCheckStatus = Literal[CheckStatus, "disabled"]
"""A response check's status; `disabled`: the job's policy turns responses off."""


class ReadingCheck(BaseModel):
    """Whether the reading called for an entropy response, and why."""

    needs_response: bool = Field(description="Whether an entropy response was due.")
    reason: str = Field(description="Why, in words.")
    status: ReadingCheckStatus = Field(
        description="The check's outcome: `below_threshold` (a response ran), "
        "`healthy`, `cooldown` (too soon after the last one), `no_data` "
        "or `disabled`.",
    )


class ReadingResult(BaseModel):
    """What a reading did: the budget adjustment, and the entropy response if one ran."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "adjustment": BUDGET_RECORD_EXAMPLE,
                    "response": None,
                    "response_check": {
                        "needs_response": False,
                        "reason": "Cooldown active (1800s remaining)",
                        "status": "cooldown",
                    },
                    "budget": BUDGET_RECORD_EXAMPLE,
                }
            ]
        }
    )

    adjustment: BudgetRecord = Field(description="The budget record this reading made.")
    response: EntropyResponseRecord | None = Field(
        description="The entropy response the reading triggered; null when none was due.",
    )
    response_check: ReadingCheck = Field(description="Whether a response was due, and why.")
    budget: BudgetRecord = Field(description="The job's budget after every step.")
    diversity: ReadingDiversity | None = Field(
        default=None,
        description="The diversity measured over the policy's scope when the reading carried "
        "no `entropy`; null when it did.",
    )


class SelectionRequest(RequestBody):
    """A request to pick the pattern a job applies next."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"execution_id": "run-2026-03-01-0042", "seed": 7},
                {"execution_id": "run-2026-03-01-0043", "candidates": ["reflect-then-act", "tdd"]},
            ]
        }
    )

    execution_id: ShortText = Field(
        description="The run the picked pattern will be applied in (recorded with the "
        "application).",
    )
    candidates: list[Identifier] | None = Field(
        default=None, min_length=1, max_length=1000, description="Default: every pattern."
    )
    seed: Annotated[int, Field(ge=0, le=2**63 - 1), INTEGRAL] | None = Field(
        default=None, description="Makes the pick reproducible."
    )


class SelectionResult(BaseModel):
    """The pattern picked, and the application recorded for it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pattern_id": "reflect-then-act",
                    "application_id": "5c1d7e2a-8f3b-4b7e-9a61-0c2d3e4f5a6b",
                    "mode": "explore",
                    "budget_value": 0.25,
                }
            ]
        }
    )

    pattern_id: str = Field(description="The pattern to apply.")
    application_id: str = Field(
        description="The application recorded for it, outcome unknown: report the "
        "outcome with PATCH /v1/pattern-applications/{application_id}.",
    )
    mode: SelectionMode = Field(
        description="`explore` (the least-applied eligible pattern) or `exploit` (the "
        "best success rate among known outcomes).",
    )
    budget_value: float = Field(
        description="The job's budget when it picked: the probability it had of exploring.",
    )
