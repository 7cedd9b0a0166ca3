"""Webhook endpoints and their attempts, each operation in the request's transaction."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from app.core.clock import Clock
from app.core.pagination import PageRequest
from app.core.problems import ConflictProblem, NotFoundProblem
from app.models import WebhookDelivery, WebhookEndpoint
from app.webhooks import rules
from app.webhooks.outbox import message_row
from app.webhooks.repository import DeliveryRepository, EndpointRepository, MessageRepository
from app.webhooks.schemas import EndpointCreate, EndpointUpdate, PingData


def create_endpoint(session: Session, clock: Clock, body: EndpointCreate) -> WebhookEndpoint:
    """A new endpoint, with a new secret. It gets the events recorded from now on: those whose
    message sequence is above the outbox's last one."""
    now = clock()
    endpoint = WebhookEndpoint(
        id=str(uuid.uuid4()),
        url=body.url,
        description=body.description,
        events=list(body.events),
        enabled=body.enabled,
        disabled_reason=None,
        secret=rules.new_secret(),
        previous_secret=None,
        previous_secret_expires_at=None,
        after_message_seq=MessageRepository(session).last_seq(),
        created_at=now,
        updated_at=now,
    )
    return EndpointRepository(session).add(endpoint)


def get_endpoint(
    session: Session, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint:
    return EndpointRepository(session).get_or_404(endpoint_id, for_update=for_update)


def list_endpoints(
    session: Session, page: PageRequest
) -> tuple[Sequence[WebhookEndpoint], str | None]:
    return EndpointRepository(session).page(page)


def update_endpoint(
    session: Session, clock: Clock, endpoint_id: str, body: EndpointUpdate
) -> WebhookEndpoint:
    """Change the fields given (only `description` may be given as null: the body refuses a
    null for the others); enabling clears the reason the service had disabled it for."""
    endpoint = get_endpoint(session, endpoint_id, for_update=True)
    if body.url is not None:
        endpoint.url = body.url
    if body.events is not None:
        endpoint.events = list(body.events)
    if "description" in body.model_fields_set:
        endpoint.description = body.description
    if body.enabled is not None:
        endpoint.enabled = body.enabled
        if body.enabled:
            endpoint.disabled_reason = None
    endpoint.updated_at = clock()
    session.flush()
    return endpoint


def delete_endpoint(session: Session, endpoint_id: str) -> None:
    """The endpoint and its attempts log; messages already in flight to it are dropped. Its
    deliveries are locked before the endpoint, the lock order of the dispatcher and pruning."""
    endpoints = EndpointRepository(session)
    endpoints.lock_deliveries(get_endpoint(session, endpoint_id))
    endpoints.delete(get_endpoint(session, endpoint_id, for_update=True))


def rotate_secret(session: Session, clock: Clock, endpoint_id: str) -> WebhookEndpoint:
    """A new secret; the one it replaces signs beside it for 24 h. Rotating again within
    those 24 h drops the oldest: never more than two secrets."""
    endpoint = get_endpoint(session, endpoint_id, for_update=True)
    now = clock()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + rules.SECRET_OVERLAP
    endpoint.secret = rules.new_secret()
    endpoint.updated_at = now
    session.flush()
    return endpoint


def ping(session: Session, clock: Clock, endpoint_id: str) -> WebhookDelivery:
    """A `ping` message for this endpoint alone, due now."""
    endpoint = get_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        raise ConflictProblem(
            f"Webhook endpoint {endpoint_id!r} is disabled; enable it (PATCH enabled: true) "
            "before pinging it."
        )
    now = clock()
    data = PingData(endpoint_id=endpoint.id).model_dump(mode="json")
    message = message_row("ping", now, data, fanned_out=True)
    [message_seq] = MessageRepository(session).insert([message])
    deliveries = DeliveryRepository(session)
    deliveries.insert([new_delivery(endpoint.seq, message_seq, message["id"], "ping", now)])
    delivery = deliveries.get(endpoint.seq, message_seq)
    assert delivery is not None
    return delivery


def new_delivery(
    endpoint_seq: int, message_seq: int, message_id: str, event_type: str, now: datetime
) -> dict[str, object]:
    """A delivery row: pending, due now, never attempted."""
    return {
        "endpoint_seq": endpoint_seq,
        "message_seq": message_seq,
        "message_id": message_id,
        "event_type": event_type,
        "status": "pending",
        "attempts": 0,
        "failures": 0,
        "created_at": now,
        "next_attempt_at": now,
        "last_attempt_at": None,
        "last_status_code": None,
        "last_error": None,
        "lease_until": None,
        "lease_token": None,
    }


def list_attempts(
    session: Session, endpoint_id: str, status: str | None, page: PageRequest
) -> tuple[Sequence[WebhookDelivery], str | None]:
    endpoint = get_endpoint(session, endpoint_id)
    return DeliveryRepository(session).page(endpoint.seq, status, page)


def retry_attempt(
    session: Session, clock: Clock, endpoint_id: str, message_id: str
) -> WebhookDelivery:
    """Due again now, with the whole retry schedule ahead of it (delivered ones too: a
    redelivery). An attempt still in flight is a 409: its outcome is not known yet."""
    endpoint = get_endpoint(session, endpoint_id)
    message_seq = MessageRepository(session).seq_of(message_id)
    delivery = None
    if message_seq is not None:
        delivery = DeliveryRepository(session).get(endpoint.seq, message_seq)
    if delivery is None:
        raise NotFoundProblem(f"Webhook endpoint {endpoint_id!r} has no message {message_id!r}.")
    now = clock()
    if delivery.lease_until is not None and delivery.lease_until > now:
        raise ConflictProblem(
            f"Message {message_id!r} is being attempted right now; retry once it is done."
        )
    delivery.status = "pending"
    delivery.failures = 0
    delivery.next_attempt_at = now
    delivery.lease_until = None
    delivery.lease_token = None
    session.flush()
    return delivery
