"""Webhook endpoints, their attempts log, and the events they receive."""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from app.core.pagination import Page
from app.core.schemas import LongText, Record, RequestBody
from app.patterns.rules import QuarantineStatus
from app.responses.schemas import EntropyResponseRecord
from app.webhooks.rules import DeliveryStatus, EventType, MessageType, StatusCause

MAX_URL_LENGTH = 2048
NEXT_CURSOR = "Pass it as `cursor` for the next page; null on the last page."

ENDPOINT_ID_EXAMPLE = "3f6c1f0e-2b8a-4d8e-9c51-7a2e4b1d9f03"
MESSAGE_ID_EXAMPLE = "msg_5f1d3c9a0b7e4d2f8a6c1e3b9d7f5a2c"
URL_EXAMPLE = "https://hooks.example.com/entropy-budget"
SECRET_EXAMPLE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw9Xp3ZQ0m2Zc="


def _distinct(events: list[EventType]) -> list[EventType]:
    if len(set(events)) != len(events):
        raise ValueError("each event type at most once")
    return events


WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    Field(
        description="Where the events are POSTed: an https URL whose host resolves to global "
        "addresses only, without user info.",
        examples=[URL_EXAMPLE],
    ),
]
Subscriptions = Annotated[
    list[EventType],
    Field(min_length=1, description="The event types this endpoint receives (at least one)."),
    AfterValidator(_distinct),
]
EndpointDescription = Annotated[
    LongText | None, Field(description="What this endpoint is for (free text).")
]


class EndpointCreate(RequestBody):
    """A new webhook endpoint: where to deliver, and which events."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": URL_EXAMPLE,
                    "events": ["entropy_response.triggered", "pattern.status_changed"],
                    "description": "Revalidation queue",
                },
                {"url": "https://alerts.example.com/hooks", "events": ["pattern.status_changed"]},
            ]
        }
    )

    url: WebhookUrl
    events: Subscriptions
    description: EndpointDescription = None
    enabled: bool = Field(
        default=True, description="Whether messages are sent to it (default true)."
    )


class EndpointUpdate(RequestBody):
    """Only the fields given change."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"enabled": True},
                {"events": ["pattern.status_changed"], "description": "Status changes only"},
                {"url": "https://hooks.example.com/v2/entropy-budget"},
            ]
        }
    )

    url: WebhookUrl | None = Field(default=None, description="A new URL, checked as at creation.")
    events: Subscriptions | None = Field(
        default=None, description="The event types it receives from now on."
    )
    description: EndpointDescription = None
    enabled: bool | None = Field(
        default=None,
        description="false stops sending (pending messages wait); true resumes and clears "
        "`disabled_reason`.",
    )

    @model_validator(mode="after")
    def _no_null_for_required_fields(self) -> Self:
        nulls = [n for n in ("url", "events", "enabled") if n in self.model_fields_set]
        if any(getattr(self, name) is None for name in nulls):
            raise ValueError("url, events and enabled cannot be null (leave them out instead)")
        return self


_ENDPOINT_EXAMPLE: dict[str, Any] = {
    "id": ENDPOINT_ID_EXAMPLE,
    "url": URL_EXAMPLE,
    "description": "Revalidation queue",
    "events": ["entropy_response.triggered", "pattern.status_changed"],
    "enabled": True,
    "disabled_reason": None,
    "previous_secret_expires_at": None,
    "created_at": "2026-03-01T12:00:00Z",
    "updated_at": "2026-03-01T12:00:00Z",
}


class EndpointRecord(Record):
    """A webhook endpoint. Its secret is never part of it: only the answers that create or
    rotate the secret show it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ENDPOINT_EXAMPLE]})

    id: str = Field(description="The endpoint's id.")
    url: str = Field(description="Where the events are POSTed.")
    description: str | None = Field(description="What this endpoint is for.")
    events: list[EventType] = Field(description="The event types it receives.")
    enabled: bool = Field(description="Whether messages are sent to it.")
    disabled_reason: str | None = Field(
        description="Why the service disabled it (a 410 Gone answer); null when enabled, or "
        "disabled by a PATCH."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret replaced by the last rotation still signs beside "
        "the new one; null when one secret signs."
    )
    created_at: datetime = Field(description="When it was created.")
    updated_at: datetime = Field(description="When it last changed.")


class EndpointPage(Page[EndpointRecord]):
    """A page of webhook endpoints, newest first."""

    items: list[EndpointRecord] = Field(description="The endpoints of this page.")
    next_cursor: str | None = Field(default=None, description=NEXT_CURSOR)


class EndpointWithSecret(EndpointRecord):
    """An endpoint with its signing secret: shown in this answer only, keep it now."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [_ENDPOINT_EXAMPLE | {"secret": SECRET_EXAMPLE}]}
    )

    secret: str = Field(
        description="The signing secret (`whsec_` + base64 of 32 random bytes): verify each "
        "delivery's `webhook-signature` with it. Never shown again.",
        examples=[SECRET_EXAMPLE],
    )


class AttemptRecord(Record):
    """One message to one endpoint: its delivery status and attempts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message_id": MESSAGE_ID_EXAMPLE,
                    "event_type": "entropy_response.triggered",
                    "status": "pending",
                    "attempts": 2,
                    "last_status_code": 503,
                    "last_error": None,
                    "last_attempt_at": "2026-03-01T12:00:05Z",
                    "next_attempt_at": "2026-03-01T12:05:05Z",
                },
                {
                    "message_id": "msg_0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f",
                    "event_type": "pattern.status_changed",
                    "status": "delivered",
                    "attempts": 1,
                    "last_status_code": 204,
                    "last_error": None,
                    "last_attempt_at": "2026-03-01T12:00:00.250000Z",
                    "next_attempt_at": None,
                },
            ]
        }
    )

    message_id: str = Field(description="The `webhook-id` every attempt of it carries.")
    event_type: MessageType = Field(description="The message's `type`.")
    status: DeliveryStatus = Field(
        description="pending (to be attempted, or in flight), delivered (a 2xx came back), "
        "failed (no retry left, or 410 Gone)."
    )
    attempts: int = Field(description="Attempts made so far (retries and redeliveries too).")
    last_status_code: int | None = Field(
        description="The HTTP status of the last attempt; null before the first, or when it "
        "got no answer."
    )
    last_error: str | None = Field(
        description="Why the last attempt got no HTTP answer (timeout, refused connection, "
        "refused destination); null otherwise."
    )
    last_attempt_at: datetime | None = Field(description="When the last attempt started.")
    next_attempt_at: datetime | None = Field(
        description="When it is attempted next (pending only); null once delivered or failed."
    )


class AttemptPage(Page[AttemptRecord]):
    """A page of an endpoint's messages, newest first."""

    items: list[AttemptRecord] = Field(description="The messages of this page.")
    next_cursor: str | None = Field(default=None, description=NEXT_CURSOR)


class StatusChange(BaseModel):
    """`data` of a `pattern.status_changed` event."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pattern_id": "decompose-first",
                    "old_status": "quarantined",
                    "new_status": "pending",
                    "cause": "response",
                    "response_id": "6d2b0a4e-8e0f-4f5e-a1f9-0c7d52f1e3b2",
                    "sequence": 4,
                }
            ]
        }
    )

    pattern_id: str = Field(description="The pattern whose status changed.")
    old_status: QuarantineStatus = Field(description="Its status before.")
    new_status: QuarantineStatus = Field(description="Its status now.")
    cause: StatusCause = Field(
        description="response: an entropy response revisited it; request: a PATCH set it."
    )
    response_id: str | None = Field(
        description="The entropy response that revisited it (cause response), else null."
    )
    sequence: int = Field(
        description="Increases with every status change of this pattern: drop an event whose "
        "sequence is not above the last one you applied."
    )


class PingData(BaseModel):
    """`data` of a `ping` message."""

    endpoint_id: str = Field(description="The endpoint pinged.")


class _Payload(BaseModel):
    timestamp: datetime = Field(
        description="When the event occurred (RFC 3339), the same on every attempt; the "
        "attempt's own time is the signed `webhook-timestamp` header."
    )


class ResponseTriggeredPayload(_Payload):
    """The body of an `entropy_response.triggered` webhook."""

    type: Literal["entropy_response.triggered"] = Field(description="The event type.")
    data: EntropyResponseRecord = Field(
        description="The response, as `GET /v1/entropy-responses/{id}` shows it."
    )


class StatusChangedPayload(_Payload):
    """The body of a `pattern.status_changed` webhook."""

    type: Literal["pattern.status_changed"] = Field(description="The event type.")
    data: StatusChange = Field(description="The change.")


class PingPayload(_Payload):
    """The body of a `ping` webhook."""

    type: Literal["ping"] = Field(description="The event type.")
    data: PingData = Field(description="The endpoint pinged.")
