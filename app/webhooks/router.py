"""HTTP shape of webhook endpoints: create, read, change, delete, rotate the secret, ping, and
the attempts log with redelivery."""

from typing import Annotated

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    Header,
    Path,
    Query,
    Request,
    Response,
    status,
)
from starlette.concurrency import run_in_threadpool

from app.core.clock import ClockDep
from app.core.db import DbSession
from app.core.http import (
    CREATED_AT_LOCATION,
    WRITE_PROBLEMS,
    problem_responses,
    set_location,
)
from app.core.pagination import PageParams
from app.core.problems import field_error, validation_problem
from app.core.routing import service_router
from app.core.schemas import Identifier
from app.core.settings import Settings, SettingsDep
from app.webhooks import service
from app.webhooks.outbound import UnsafeDestinationError, check_destination
from app.webhooks.rules import DeliveryStatus
from app.webhooks.schemas import (
    ENDPOINT_ID_EXAMPLE,
    MESSAGE_ID_EXAMPLE,
    AttemptPage,
    AttemptRecord,
    EndpointCreate,
    EndpointPage,
    EndpointRecord,
    EndpointUpdate,
    EndpointWithSecret,
    PingPayload,
    ResponseTriggeredPayload,
    StatusChangedPayload,
)

router = service_router("/v1/webhooks", "webhooks")

TAG = {
    "name": "webhooks",
    "description": "Endpoints that receive events (entropy responses, pattern status changes) "
    "as signed Standard Webhooks POSTs, delivered at least once from a transactional outbox; "
    "their secrets, pings, attempts log and redeliveries. The payloads are under `webhooks`.",
}

WebhookId = Annotated[
    Identifier,
    Path(description="The webhook endpoint's id.", examples=[ENDPOINT_ID_EXAMPLE]),
]
MessageId = Annotated[
    Identifier,
    Path(
        description="The message's id (its `webhook-id` header).",
        examples=[MESSAGE_ID_EXAMPLE],
    ),
]


def _check_url(url: str, settings: Settings) -> None:
    try:
        check_destination(url, allow_private=settings.webhooks_allow_private)
    except UnsafeDestinationError as refused:
        raise validation_problem(
            [field_error(("body", "url"), str(refused), "url_refused")]
        ) from None


async def checked_creation(body: EndpointCreate, settings: SettingsDep) -> EndpointCreate:
    """The body, its URL checked (and resolved) before the request's transaction begins: a
    slow resolver never holds a database lock."""
    await run_in_threadpool(_check_url, body.url, settings)
    return body


async def checked_update(body: EndpointUpdate, settings: SettingsDep) -> EndpointUpdate:
    if body.url is not None:
        await run_in_threadpool(_check_url, body.url, settings)
    return body


def _wake_dispatcher(request: Request) -> None:
    request.app.state.webhook_dispatcher.wake()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a webhook endpoint (its secret is shown once)",
    responses={**WRITE_PROBLEMS, **CREATED_AT_LOCATION},
)
def create_webhook(
    body: Annotated[EndpointCreate, Depends(checked_creation)],
    session: DbSession,
    clock: ClockDep,
    request: Request,
    response: Response,
) -> EndpointWithSecret:
    """The endpoint receives the subscribed events recorded from now on, each POSTed and
    signed as Standard Webhooks specifies. The answer holds the signing `secret`: no other
    answer ever shows it again."""
    endpoint = service.create_endpoint(session, clock, body)
    set_location(request, response, "get_webhook", webhook_id=endpoint.id)
    return EndpointWithSecret.model_validate(endpoint)


@router.get("", summary="Webhook endpoints, newest first")
def list_webhooks(session: DbSession, page: PageParams) -> EndpointPage:
    """Every endpoint (without its secret), most recently created first."""
    endpoints, next_cursor = service.list_endpoints(session, page)
    return EndpointPage(
        items=[EndpointRecord.model_validate(e) for e in endpoints], next_cursor=next_cursor
    )


@router.get("/{webhook_id}", summary="One webhook endpoint", responses=problem_responses(404))
def get_webhook(session: DbSession, webhook_id: WebhookId) -> EndpointRecord:
    """The endpoint, without its secret."""
    return EndpointRecord.model_validate(service.get_endpoint(session, webhook_id))


@router.patch(
    "/{webhook_id}",
    summary="Change a webhook endpoint",
    responses=problem_responses(404, 409),
)
def update_webhook(
    body: Annotated[EndpointUpdate, Depends(checked_update)],
    session: DbSession,
    clock: ClockDep,
    webhook_id: WebhookId,
) -> EndpointRecord:
    """Only the fields given change. `enabled: true` resumes an endpoint the service disabled
    after a 410 Gone; its pending messages are then delivered."""
    return EndpointRecord.model_validate(service.update_endpoint(session, clock, webhook_id, body))


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook endpoint",
    responses=problem_responses(404, 409),
)
def delete_webhook(session: DbSession, webhook_id: WebhookId) -> Response:
    """The endpoint and its attempts log; nothing more is sent to it."""
    service.delete_endpoint(session, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/rotate-secret",
    summary="Rotate a webhook endpoint's secret",
    responses=problem_responses(404, 409),
)
def rotate_webhook_secret(
    session: DbSession, clock: ClockDep, webhook_id: WebhookId
) -> EndpointWithSecret:
    """A new secret, shown in this answer only. For 24 h the previous secret signs beside it
    (two signatures in `webhook-signature`), time to deploy the new one to the receiver."""
    return EndpointWithSecret.model_validate(service.rotate_secret(session, clock, webhook_id))


@router.post(
    "/{webhook_id}/ping",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a ping event to a webhook endpoint",
    responses=problem_responses(404, 409),
)
def ping_webhook(
    session: DbSession,
    clock: ClockDep,
    webhook_id: WebhookId,
    request: Request,
    background: BackgroundTasks,
) -> AttemptRecord:
    """A `ping` message for this endpoint alone, delivered like any other; follow it in the
    attempts log. A disabled endpoint is a 409."""
    delivery = service.ping(session, clock, webhook_id)
    background.add_task(_wake_dispatcher, request)
    return AttemptRecord.model_validate(delivery)


@router.get(
    "/{webhook_id}/attempts",
    summary="A webhook endpoint's messages and their delivery, newest first",
    responses=problem_responses(404),
)
def list_webhook_attempts(
    session: DbSession,
    webhook_id: WebhookId,
    page: PageParams,
    status: Annotated[
        DeliveryStatus | None, Query(description="Only messages in this delivery status.")
    ] = None,
) -> AttemptPage:
    """One item per message sent (or to be sent) to the endpoint: its status, how many
    attempts, the last answer and when the next attempt is due."""
    deliveries, next_cursor = service.list_attempts(session, webhook_id, status, page)
    return AttemptPage(
        items=[AttemptRecord.model_validate(d) for d in deliveries],
        next_cursor=next_cursor,
    )


@router.post(
    "/{webhook_id}/attempts/{message_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Redeliver a message now",
    responses=problem_responses(404, 409),
)
def retry_webhook_attempt(
    session: DbSession,
    clock: ClockDep,
    webhook_id: WebhookId,
    message_id: MessageId,
    request: Request,
    background: BackgroundTasks,
) -> AttemptRecord:
    """The message is due now, failed or delivered alike (same `webhook-id`, same body), with
    the whole retry schedule ahead of it. One still in flight is a 409."""
    delivery = service.retry_attempt(session, clock, webhook_id, message_id)
    background.add_task(_wake_dispatcher, request)
    return AttemptRecord.model_validate(delivery)


# -- what a receiver gets (the OpenAPI document's `webhooks`) -----------------------------------

events_router = APIRouter(tags=["webhooks"], generate_unique_id_function=lambda route: route.name)

MessageIdHeader = Annotated[
    str,
    Header(
        alias="webhook-id",
        description="The message's id: the same on every attempt of it, so deduplicate on it.",
        examples=["msg_5f1d3c9a0b7e4d2f8a6c1e3b9d7f5a2c"],
    ),
]
TimestampHeader = Annotated[
    str,
    Header(
        alias="webhook-timestamp",
        description="Unix seconds of this attempt, signed with it: refuse one too far from now.",
        examples=["1772366406"],
    ),
]
SignatureHeader = Annotated[
    str,
    Header(
        alias="webhook-signature",
        description="`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` "
        "keyed with the base64-decoded secret; two, space-separated, while a rotated secret "
        "still signs.",
        examples=["v1,Jq2g1t3oJ7dXhM9r0VbZ1p2W9yQyB1kqR4m1oQ3aT8I="],
    ),
]
DELIVERED = "Any 2xx within the deadline: delivered, no further attempt."
RECEIVER_ANSWERS: dict[int | str, dict[str, str]] = {
    "410": {"description": "Gone: the message fails and the endpoint is disabled."},
    "429": {"description": "Too busy: retried, no sooner than its `Retry-After`."},
    "502": {"description": "Retried, no sooner than its `Retry-After` when it has one."},
    "504": {"description": "Retried, no sooner than its `Retry-After` when it has one."},
    "4XX": {"description": "Retried on WEBHOOKS_RETRY_SCHEDULE, then failed."},
    "5XX": {"description": "Retried on WEBHOOKS_RETRY_SCHEDULE, then failed."},
}


@events_router.post(
    "entropy_response.triggered",
    summary="An entropy response was recorded",
    responses=RECEIVER_ANSWERS,
    status_code=status.HTTP_204_NO_CONTENT,
    response_description=DELIVERED,
)
def on_entropy_response_triggered(
    body: ResponseTriggeredPayload,
    webhook_id: MessageIdHeader,
    webhook_timestamp: TimestampHeader,
    webhook_signature: SignatureHeader,
) -> None:
    """Sent for every response, whether a reading or `POST /v1/entropy-responses` ran it,
    with the ids of the patterns it sent back to `pending`."""


@events_router.post(
    "pattern.status_changed",
    summary="A pattern's quarantine status changed",
    responses=RECEIVER_ANSWERS,
    status_code=status.HTTP_204_NO_CONTENT,
    response_description=DELIVERED,
)
def on_pattern_status_changed(
    body: StatusChangedPayload,
    webhook_id: MessageIdHeader,
    webhook_timestamp: TimestampHeader,
    webhook_signature: SignatureHeader,
) -> None:
    """Sent when a PATCH changes the status (cause `request`) or a response revisits the
    pattern (cause `response`); keep the highest `sequence` per pattern."""


@events_router.post(
    "ping",
    summary="A ping asked for with POST /v1/webhooks/{webhook_id}/ping",
    responses=RECEIVER_ANSWERS,
    status_code=status.HTTP_204_NO_CONTENT,
    response_description=DELIVERED,
)
def on_ping(
    body: PingPayload,
    webhook_id: MessageIdHeader,
    webhook_timestamp: TimestampHeader,
    webhook_signature: SignatureHeader,
) -> None:
    """Sent to the pinged endpoint alone, signed like every other message."""
