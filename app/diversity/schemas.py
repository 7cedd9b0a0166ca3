"""Scopes of diversity: what a measurement covers, and what a job's policy measures."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import INTEGRAL, RequestBody
from app.core.settings import MAX_HALF_LIFE_SECONDS

HalfLifeSeconds = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_HALF_LIFE_SECONDS,
        description="Exponential decay: an application weighs 2^-(age / half-life). It must be "
        "a registered half-life (DIVERSITY_HALF_LIVES; a 422 names the registered ones).",
    ),
    INTEGRAL,
]
PolicyScope = Literal["global", "job"]


class Scope(BaseModel):
    """The applications a diversity covers: one job's or every job's (`job_hash` null), all
    counted (`half_life_seconds` null) or decayed with a half-life."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [{"job_hash": "nightly-etl", "half_life_seconds": 300}]},
    )

    job_hash: str | None = Field(
        description="The job whose applications are measured; null: every job's."
    )
    half_life_seconds: int | None = Field(
        description="The half-life the applications decay with; null: all-time counts."
    )


class DiversityPolicy(RequestBody):
    """The scope a job's readings measure when they carry no entropy (and its selections
    explore by)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"scope": "job", "half_life_seconds": 300}]}
    )

    scope: PolicyScope = Field(
        default="global",
        description="`global`: every job's applications (the seed's); `job`: only the job's own.",
    )
    half_life_seconds: HalfLifeSeconds | None = Field(
        default=None, description="A registered half-life; null: all-time counts (the seed's)."
    )


class DiversityPolicyChanges(RequestBody):
    """Any subset of a diversity policy; a `half_life_seconds` given as null means all-time."""

    scope: PolicyScope | None = Field(
        default=None, description="`global` or `job`; absent: unchanged."
    )
    half_life_seconds: HalfLifeSeconds | None = Field(
        default=None,
        description="A registered half-life, or null for all-time; absent: unchanged.",
    )


class ReadingDiversity(BaseModel):
    """The diversity a reading measured (it carried no entropy of its own)."""

    scope: Scope = Field(description="The applications measured: the job's policy's scope.")
    diversity_index: float = Field(description="The entropy the reading used, in [0, 1].")
    effective_pattern_count: int = Field(description="Patterns counted in the scope.")
    weighted_applications: float = Field(
        description="The scope's total weight at the reading's time (its application count "
        "when all-time)."
    )
