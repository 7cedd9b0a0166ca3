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


POLICY_EXAMPLE: JsonDict = {
    **defaults.BUDGET_POLICY,
    "response": dict(defaults.RESPONSE_POLICY),
    "diversity": {"scope": "global", "half_life_seconds": None},
}
"""The server's defaults, as a complete policy."""


class Policy(RequestBody):
    """A job's complete policy: the budget rule's numbers and the automatic response's."""

    model_config = ConfigDict(json_schema_extra={"examples": [POLICY_EXAMPLE]})

    floor: UnitInterval
    ceiling: UnitInterval
    decay_rate: DecayRate
    boost_amount: UnitInterval
    entropy_threshold: UnitInterval
    initial_budget: UnitInterval
    response: ResponsePolicy
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
    enabled: bool | None = None
    threshold: UnitInterval | None = None
    cooldown_seconds: CooldownSeconds | None = None
    boost_budget: bool | None = None
    revisit_quarantine: bool | None = None
    max_quarantine_revisits: QuarantineRevisits | None = None
    budget_boost_amount: UnitInterval | None = None


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

    floor: UnitInterval | None = None
    ceiling: UnitInterval | None = None
    decay_rate: DecayRate | None = None
    boost_amount: UnitInterval | None = None
    entropy_threshold: UnitInterval | None = None
    initial_budget: UnitInterval | None = None
    response: ResponsePolicyChanges | None = None
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
    needs_response: bool
    reason: str
    status: ReadingCheckStatus


class ReadingResult(BaseModel):
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

    adjustment: BudgetRecord
    response: EntropyResponseRecord | None
    response_check: ReadingCheck
    budget: BudgetRecord = Field(description="The job's budget after every step.")
    diversity: ReadingDiversity | None = Field(
        default=None,
        description="The diversity measured over the policy's scope when the reading carried "
        "no `entropy`; null when it did.",
    )


class SelectionRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"execution_id": "run-2026-03-01-0042", "seed": 7},
                {"execution_id": "run-2026-03-01-0043", "candidates": ["reflect-then-act", "tdd"]},
            ]
        }
    )

    execution_id: ShortText
    candidates: list[Identifier] | None = Field(
        default=None, min_length=1, max_length=1000, description="Default: every pattern."
    )
    seed: Annotated[int, Field(ge=0, le=2**63 - 1), INTEGRAL] | None = Field(
        default=None, description="Makes the pick reproducible."
    )


class SelectionResult(BaseModel):
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

    pattern_id: str
    application_id: str
    mode: Literal["explore", "exploit"]
    budget_value: float
