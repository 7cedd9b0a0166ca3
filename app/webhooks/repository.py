"""Queries on the webhook tables: endpoints, the outbox of messages, and deliveries."""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from app.core.orm import table_of
from app.core.pagination import PageRequest, keyset_page
from app.core.repository import RepositoryBase
from app.models import WebhookDelivery, WebhookEndpoint, WebhookMessage

_endpoints = table_of(WebhookEndpoint)
_messages = table_of(WebhookMessage)
_deliveries = table_of(WebhookDelivery)


class EndpointRepository(RepositoryBase[WebhookEndpoint]):
    model = WebhookEndpoint
    noun = "webhook endpoint"

    def add(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        self.session.add(endpoint)
        self.session.flush()
        return endpoint

    def page(self, page: PageRequest) -> tuple[Sequence[WebhookEndpoint], str | None]:
        return keyset_page(
            self.session,
            select(WebhookEndpoint),
            at=WebhookEndpoint.created_at,
            seq=WebhookEndpoint.seq,
            page=page,
        )

    def lock_deliveries(self, endpoint: WebhookEndpoint) -> None:
        """Lock the endpoint's deliveries in seq order, the order every writer of deliveries
        takes them in (before any endpoint row): otherwise two could deadlock."""
        self.session.execute(
            select(_deliveries.c.seq)
            .where(_deliveries.c.endpoint_seq == endpoint.seq)
            .order_by(_deliveries.c.seq)
            .with_for_update()
        )

    def delete(self, endpoint: WebhookEndpoint) -> None:
        self.session.execute(delete(_deliveries).where(_deliveries.c.endpoint_seq == endpoint.seq))
        self.session.delete(endpoint)
        self.session.flush()

    def subscribers(self) -> list[tuple[int, list[str], int]]:
        """(seq, events, after_message_seq) of every enabled endpoint."""
        rows = self.session.execute(
            select(_endpoints.c.seq, _endpoints.c.events, _endpoints.c.after_message_seq).where(
                _endpoints.c.enabled.is_(True)
            )
        )
        return [(seq, list(events), after) for seq, events, after in rows]

    def disable(self, endpoint_seq: int, reason: str, now: datetime) -> None:
        self.session.execute(
            update(_endpoints)
            .where(_endpoints.c.seq == endpoint_seq)
            .values(enabled=False, disabled_reason=reason, updated_at=now)
        )


class MessageRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert messages; their sequences, in order."""
        if not rows:
            return []
        result = self.session.execute(
            insert(_messages).returning(_messages.c.seq, sort_by_parameter_order=True),
            list(rows),
        )
        return list(result.scalars())

    def last_seq(self) -> int:
        return int(self.session.scalar(select(func.coalesce(func.max(_messages.c.seq), 0))) or 0)

    def seq_of(self, message_id: str) -> int | None:
        return self.session.scalar(select(_messages.c.seq).where(_messages.c.id == message_id))

    def take_unfanned(self, limit: int) -> list[tuple[int, str, str]]:
        """Up to `limit` messages not yet fanned out, oldest first, marked as fanned out: (seq,
        id, event_type). On PostgreSQL, rows another dispatcher is fanning out
        right now are skipped, not waited for."""
        chosen = (
            select(_messages.c.seq)
            .where(_messages.c.fanned_out.is_(False))
            .order_by(_messages.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        taken = list(self.session.scalars(chosen))
        if not taken:
            return []
        rows = self.session.execute(
            update(_messages)
            .where(_messages.c.seq.in_(taken))
            .values(fanned_out=True)
            .returning(_messages.c.seq, _messages.c.id, _messages.c.event_type)
        )
        return sorted((seq, id_, kind) for seq, id_, kind in rows)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery claimed by this dispatcher, with all an attempt needs."""

    seq: int
    endpoint_seq: int
    endpoint_id: str
    message_id: str
    event_type: str
    body: str
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    failures: int


def _due(now: datetime) -> Any:
    """Pending, its time has come, and not leased (or its lease expired)."""
    return and_(
        _deliveries.c.status == "pending",
        _deliveries.c.next_attempt_at <= now,
        or_(_deliveries.c.lease_until.is_(None), _deliveries.c.lease_until <= now),
    )


def _in_flight(now: datetime) -> Any:
    """Being attempted: pending and leased, the lease not expired."""
    return and_(_deliveries.c.status == "pending", _deliveries.c.lease_until > now)


def _claimable_endpoint(now: datetime, cap: int) -> Any:
    """An enabled endpoint with a due delivery and fewer than `cap` attempts in flight."""
    has_due = exists().where(_deliveries.c.endpoint_seq == _endpoints.c.seq, _due(now))
    in_flight = (
        select(func.count())
        .select_from(_deliveries)
        .where(_deliveries.c.endpoint_seq == _endpoints.c.seq, _in_flight(now))
        .scalar_subquery()
    )
    return and_(_endpoints.c.enabled.is_(True), has_due, in_flight < cap)


class DeliveryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(_deliveries), list(rows))

    def get(self, endpoint_seq: int, message_seq: int) -> WebhookDelivery | None:
        statement = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_seq == endpoint_seq,
                WebhookDelivery.message_seq == message_seq,
            )
            .with_for_update()
        )
        return self.session.scalars(statement).first()

    def page(
        self, endpoint_seq: int, status: str | None, page: PageRequest
    ) -> tuple[Sequence[WebhookDelivery], str | None]:
        statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_seq == endpoint_seq)
        if status:
            statement = statement.where(WebhookDelivery.status == status)
        return keyset_page(
            self.session,
            statement,
            at=WebhookDelivery.created_at,
            seq=WebhookDelivery.seq,
            page=page,
        )

    # -- what the dispatchers do ---------------------------------------------------------------

    def work_is_due(self, now: datetime, cap: int) -> bool:
        """Whether a message waits for its fan-out, or a delivery is due to an endpoint with a
        free slot (one cheap read, so an idle dispatcher never takes SQLite's write lock)."""
        unfanned = exists().where(_messages.c.fanned_out.is_(False))
        claimable = exists().where(_claimable_endpoint(now, cap))
        return bool(self.session.scalar(select(or_(unfanned, claimable))))

    def lock_due_endpoints(self, now: datetime, cap: int, *, limit: int) -> list[int]:
        """Up to `limit` endpoints with a due delivery and a free slot, in random order (no
        endpoint is always served last), locked for this claim: on PostgreSQL those another
        dispatcher is claiming for are skipped; SQLite's write lock covers it all."""
        statement = (
            select(_endpoints.c.seq)
            .where(_claimable_endpoint(now, cap))
            .order_by(func.random())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(self.session.scalars(statement))

    def in_flight(self, endpoint_seqs: Collection[int], now: datetime) -> dict[int, int]:
        """Attempts in flight per endpoint."""
        rows = self.session.execute(
            select(_deliveries.c.endpoint_seq, func.count())
            .where(_deliveries.c.endpoint_seq.in_(endpoint_seqs), _in_flight(now))
            .group_by(_deliveries.c.endpoint_seq)
        )
        return {endpoint_seq: int(count) for endpoint_seq, count in rows}

    def due(self, endpoint_seq: int, now: datetime, limit: int) -> list[int]:
        """The endpoint's due deliveries, longest waiting first."""
        statement = (
            select(_deliveries.c.seq)
            .where(_deliveries.c.endpoint_seq == endpoint_seq, _due(now))
            .order_by(_deliveries.c.next_attempt_at, _deliveries.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(self.session.scalars(statement))

    def lease(self, seqs: Collection[int], token: str, now: datetime, until: datetime) -> list[int]:
        """Take the deliveries for this claim (those still due): lease, attempt count, time."""
        if not seqs:
            return []
        rows = self.session.execute(
            update(_deliveries)
            .where(_deliveries.c.seq.in_(seqs), _due(now))
            .values(
                lease_until=until,
                lease_token=token,
                attempts=_deliveries.c.attempts + 1,
                last_attempt_at=now,
            )
            .returning(_deliveries.c.seq)
        )
        return list(rows.scalars())

    def claimed(self, seqs: Collection[int]) -> list[ClaimedDelivery]:
        statement = (
            select(
                _deliveries.c.seq,
                _deliveries.c.endpoint_seq,
                _endpoints.c.id,
                _deliveries.c.message_id,
                _deliveries.c.event_type,
                _messages.c.body,
                _endpoints.c.url,
                _endpoints.c.secret,
                _endpoints.c.previous_secret,
                _endpoints.c.previous_secret_expires_at,
                _deliveries.c.failures,
            )
            .join(_endpoints, _endpoints.c.seq == _deliveries.c.endpoint_seq)
            .join(_messages, _messages.c.seq == _deliveries.c.message_seq)
            .where(_deliveries.c.seq.in_(seqs))
            .order_by(_deliveries.c.seq)
        )
        return [ClaimedDelivery(*row) for row in self.session.execute(statement)]

    def record(self, seq: int, token: str, values: Mapping[str, Any]) -> bool:
        """Write an attempt's outcome if the delivery is still under this claim; whether it was."""
        result = self.session.execute(
            update(_deliveries)
            .where(_deliveries.c.seq == seq, _deliveries.c.lease_token == token)
            .values(**values, lease_until=None, lease_token=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, seq: int, token: str, now: datetime) -> None:
        """Give a claimed delivery back unattempted (a dispatcher stopping): due again now."""
        self.session.execute(
            update(_deliveries)
            .where(_deliveries.c.seq == seq, _deliveries.c.lease_token == token)
            .values(
                lease_until=None,
                lease_token=None,
                attempts=_deliveries.c.attempts - 1,
                next_attempt_at=now,
            )
        )

    def queue(self) -> tuple[int, datetime | None]:
        """Messages waiting: deliveries pending to enabled endpoints, and messages not yet
        fanned out; and the time the oldest of them occurred."""
        pending = self.session.execute(
            select(func.count(), func.min(_messages.c.occurred_at))
            .select_from(_deliveries)
            .join(_endpoints, _endpoints.c.seq == _deliveries.c.endpoint_seq)
            .join(_messages, _messages.c.seq == _deliveries.c.message_seq)
            .where(_deliveries.c.status == "pending", _endpoints.c.enabled.is_(True))
        ).one()
        unfanned = self.session.execute(
            select(func.count(), func.min(_messages.c.occurred_at)).where(
                _messages.c.fanned_out.is_(False)
            )
        ).one()
        oldest = [at for at in (pending[1], unfanned[1]) if at is not None]
        return int(pending[0]) + int(unfanned[0]), min(oldest, default=None)
