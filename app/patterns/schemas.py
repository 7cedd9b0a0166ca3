"""Patterns and their applications: the data pattern diversity is computed from."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

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

QuarantineStatus = Literal["pending", "quarantined", "validated", "retired"]
MAX_BATCH_APPLICATIONS = 1000


class PatternCreate(RequestBody):
    id: Identifier | None = Field(
        default=None, description="Chosen by the client, or a uuid4 hex made by the service."
    )
    pattern_type: ShortText
    pattern_name: ShortText
    description: LongText | None = None
    quarantine_status: QuarantineStatus = "pending"


class PatternStatusUpdate(RequestBody):
    quarantine_status: QuarantineStatus
    quarantine_reason: LongText | None = None


class PatternRecord(Record):
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


class ApplicationCreate(ApplicationFields):
    pass


class BatchApplicationCreate(ApplicationFields):
    pattern_id: Identifier


class ApplicationBatchCreate(RequestBody):
    applications: list[BatchApplicationCreate] = Field(
        min_length=1, max_length=MAX_BATCH_APPLICATIONS
    )


class ApplicationOutcome(RequestBody):
    pattern_led_to_success: bool | None


class ApplicationRecord(Record):
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
