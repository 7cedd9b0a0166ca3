"""Patterns and their applications: the data pattern diversity is computed from."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.core.pagination import Page
from app.core.schemas import (
    Identifier,
    LongText,
    Record,
    RequestBody,
    RetryCount,
    ShortText,
    UnitInterval,
)
from app.patterns.rules import QuarantineStatus

MAX_BATCH_APPLICATIONS = 1000


class PatternCreate(RequestBody):
    """A new pattern."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "reflect-then-act",
                    "pattern_type": "strategy",
                    "pattern_name": "Reflect, then act",
                    "description": "Summarise the failure before retrying.",
                },
                {"pattern_type": "strategy", "pattern_name": "Decompose first"},
            ]
        }
    )

    id: Identifier | None = Field(
        default=None, description="Chosen by the client, or a uuid4 hex made by the service."
    )
    pattern_type: ShortText = Field(
        description="What kind of pattern it is, in the caller's words (`strategy`, "
        "`retry`, `prompt`...).",
    )
    pattern_name: ShortText = Field(description="A name for people to read.")
    description: LongText | None = Field(
        default=None,
        description="What the pattern does, for people.",
    )
    quarantine_status: QuarantineStatus = Field(
        default="pending",
        description="The status it starts in.",
    )


class PatternStatusUpdate(RequestBody):
    """A change of a pattern's quarantine status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "quarantine_status": "quarantined",
                    "quarantine_reason": "Loops on itself when the tool fails",
                },
                {"quarantine_status": "validated"},
            ]
        }
    )

    quarantine_status: QuarantineStatus = Field(description="The new status.")
    quarantine_reason: LongText | None = Field(
        default=None,
        description="Why, in words; kept as the pattern's `quarantine_reason`.",
    )


class PatternRecord(Record):
    """A pattern: its status and how often it was applied, and with what success."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "reflect-then-act",
                    "pattern_type": "strategy",
                    "pattern_name": "Reflect, then act",
                    "description": "Summarise the failure before retrying.",
                    "quarantine_status": "validated",
                    "quarantine_reason": None,
                    "quarantined_at": None,
                    "validated_at": "2026-03-01T12:10:00Z",
                    "first_seen": "2026-03-01T12:00:00Z",
                    "last_seen": "2026-03-01T12:09:30.250000Z",
                    "application_count": 12,
                    "success_count": 9,
                }
            ]
        }
    )

    id: str = Field(description="The pattern's id.")
    pattern_type: str = Field(description="What kind of pattern it is.")
    pattern_name: str = Field(description="Its name.")
    description: str | None = Field(description="What it does; null when not given.")
    quarantine_status: QuarantineStatus = Field(description="Its current status.")
    quarantine_reason: str | None = Field(
        description="Why its status last changed, when a reason was given; else null.",
    )
    quarantined_at: datetime | None = Field(
        description="When it was last quarantined; null if never.",
    )
    validated_at: datetime | None = Field(description="When it was last validated; null if never.")
    first_seen: datetime = Field(description="When it was created.")
    last_seen: datetime = Field(
        description="When it was last applied (its creation time until then).",
    )
    application_count: int = Field(description="How many applications of it were recorded.")
    success_count: int = Field(description="How many of them led to success.")


class PatternPage(Page[PatternRecord]):
    """A page of patterns, most recently seen first."""


class ApplicationFields(RequestBody):
    """What is recorded of one application of a pattern."""

    execution_id: ShortText = Field(
        description="The run the pattern was applied in, as the caller names it.",
    )
    job_hash: Identifier | None = Field(
        default=None,
        description="The job it was applied for; null when it belongs to none.",
    )
    pattern_led_to_success: bool | None = Field(
        description="The outcome; null while it is not known yet."
    )
    retry_count_before: RetryCount = Field(
        default=0,
        description="Retries the run needed before the pattern was applied.",
    )
    retry_count_after: RetryCount = Field(
        default=0,
        description="Retries it needed after.",
    )
    grounding_confidence: UnitInterval | None = Field(
        default=None,
        description="How well grounded the outcome is, 0..1; null when unknown.",
    )


APPLICATION_EXAMPLE: dict[str, Any] = {
    "execution_id": "run-2026-03-01-0007",
    "job_hash": "job-42",
    "pattern_led_to_success": True,
    "retry_count_before": 2,
    "retry_count_after": 0,
    "grounding_confidence": 0.9,
}


class ApplicationCreate(ApplicationFields):
    """One application of the pattern named in the path."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                APPLICATION_EXAMPLE,
                {"execution_id": "run-2026-03-01-0008", "pattern_led_to_success": None},
            ]
        }
    )


class BatchApplicationCreate(ApplicationFields):
    """One application of a batch, naming its pattern."""

    pattern_id: Identifier = Field(description="The pattern applied.")


class ApplicationBatchCreate(RequestBody):
    """Up to 1000 applications, recorded in one transaction."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "applications": [
                        {"pattern_id": "reflect-then-act", **APPLICATION_EXAMPLE},
                        {
                            "pattern_id": "decompose-first",
                            "execution_id": "run-2026-03-01-0007",
                            "pattern_led_to_success": False,
                        },
                    ]
                }
            ]
        }
    )

    applications: list[BatchApplicationCreate] = Field(
        min_length=1,
        max_length=MAX_BATCH_APPLICATIONS,
        description="The applications, recorded in this order, all or none.",
    )


class ApplicationOutcome(RequestBody):
    """The outcome of an application, once it is known."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"pattern_led_to_success": True}, {"pattern_led_to_success": None}]
        }
    )

    pattern_led_to_success: bool | None = Field(
        description="Whether the application succeeded; null: not known yet.",
    )


class ApplicationRecord(Record):
    """A recorded application of a pattern."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9a4f3c2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
                    "pattern_id": "reflect-then-act",
                    "applied_at": "2026-03-01T12:09:30.250000Z",
                    **APPLICATION_EXAMPLE,
                }
            ]
        }
    )

    id: str = Field(description="The application's id (a UUID).")
    pattern_id: str = Field(description="The pattern applied.")
    execution_id: str = Field(description="The run it was applied in.")
    job_hash: str | None = Field(
        description="The job it was applied for; null when it belongs to none.",
    )
    applied_at: datetime = Field(description="When it was recorded.")
    pattern_led_to_success: bool | None = Field(
        description="The outcome; null while it is not known.",
    )
    retry_count_before: int = Field(
        description="Retries the run needed before the pattern was applied.",
    )
    retry_count_after: int = Field(description="Retries it needed after.")
    grounding_confidence: float | None = Field(
        description="How well grounded the outcome is, 0..1; null when unknown.",
    )


class ApplicationBatch(BaseModel):
    """The applications a batch recorded."""

    items: list[ApplicationRecord] = Field(
        description="One record per application sent, in the order sent.",
    )
