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
    pattern_type: ShortText
    pattern_name: ShortText
    description: LongText | None = None
    quarantine_status: QuarantineStatus = "pending"


class PatternStatusUpdate(RequestBody):
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

    quarantine_status: QuarantineStatus
    quarantine_reason: LongText | None = None


class PatternRecord(Record):
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

    id: str
    pattern_type: str
    pattern_name: str
    description: str | None
    quarantine_status: QuarantineStatus
    quarantine_reason: str | None
    quarantined_at: datetime | None
    validated_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    application_count: int
    success_count: int


class PatternPage(Page[PatternRecord]):
    pass


class ApplicationFields(RequestBody):
    execution_id: ShortText
    job_hash: Identifier | None = None
    pattern_led_to_success: bool | None = Field(
        description="The outcome; null while it is not known yet."
    )
    retry_count_before: RetryCount = 0
    retry_count_after: RetryCount = 0
    grounding_confidence: UnitInterval | None = None


APPLICATION_EXAMPLE: dict[str, Any] = {
    "execution_id": "run-2026-03-01-0007",
    "job_hash": "job-42",
    "pattern_led_to_success": True,
    "retry_count_before": 2,
    "retry_count_after": 0,
    "grounding_confidence": 0.9,
}


class ApplicationCreate(ApplicationFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                APPLICATION_EXAMPLE,
                {"execution_id": "run-2026-03-01-0008", "pattern_led_to_success": None},
            ]
        }
    )


class BatchApplicationCreate(ApplicationFields):
    pattern_id: Identifier


class ApplicationBatchCreate(RequestBody):
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
        min_length=1, max_length=MAX_BATCH_APPLICATIONS
    )


class ApplicationOutcome(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"pattern_led_to_success": True}, {"pattern_led_to_success": None}]
        }
    )

    pattern_led_to_success: bool | None


class ApplicationRecord(Record):
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

    id: str
    pattern_id: str
    execution_id: str
    job_hash: str | None
    applied_at: datetime
    pattern_led_to_success: bool | None
    retry_count_before: int
    retry_count_after: int
    grounding_confidence: float | None


class ApplicationBatch(BaseModel):
    items: list[ApplicationRecord]
