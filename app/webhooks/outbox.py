"""The transactional outbox: the writers of records call these in their own transaction, so a
committed record always has its event and an event never outlives a rolled-back record.

Only the message is written here (one row per event, its body final); which endpoints get it
is decided later by the dispatchers (`app.webhooks.dispatcher`), off the writer's path.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.webhooks import rules
from app.webhooks.repository import MessageRepository
from app.webhooks.schemas import StatusChange


def record_response(
    session: Session,
    response: Mapping[str, Any],
    changes: Sequence[StatusChange],
    occurred_at: datetime,
) -> None:
    """An entropy response (its record as the API shows it) and the status changes of the
    patterns it revisited."""
    rows = [message_row("entropy_response.triggered", occurred_at, response)]
    rows += [_status_change_row(change, occurred_at) for change in changes]
    MessageRepository(session).insert(rows)


def record_status_change(session: Session, change: StatusChange, occurred_at: datetime) -> None:
    MessageRepository(session).insert([_status_change_row(change, occurred_at)])


def _status_change_row(change: StatusChange, occurred_at: datetime) -> dict[str, Any]:
    """The one way a status change becomes a message, from a response or from a request."""
    return message_row("pattern.status_changed", occurred_at, change.model_dump(mode="json"))


def message_row(
    event_type: str, occurred_at: datetime, data: Mapping[str, Any], *, fanned_out: bool = False
) -> dict[str, Any]:
    """A new message; `fanned_out` for one addressed to a single endpoint (a ping). Its body
    is the Standard Webhooks `{"type", "timestamp", "data"}`, compact JSON, the same bytes on
    every attempt; the timestamp in UTC with a `Z`, as the API serialises times."""
    timestamp = occurred_at.isoformat().replace("+00:00", "Z")
    body = {"type": event_type, "timestamp": timestamp, "data": data}
    return {
        "id": rules.new_message_id(),
        "event_type": event_type,
        "occurred_at": occurred_at,
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False),
        "fanned_out": fanned_out,
    }
