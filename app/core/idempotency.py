"""Idempotency keys in the database: their lifecycle, in the transaction of the request they
guard (the HTTP side, reading the header and replaying, is `app.core.idempotency_http`).

The key is claimed inside the request's own transaction, before the work: a row in
`idempotency_keys` keyed by (caller, key). The response is written into that row before the
commit, so the key and the records it guards become visible together, or not at all (a failed
request leaves nothing behind and its retry runs again). A duplicate that arrives while the first
is still running waits on the unique index (PostgreSQL) or the write lock (SQLite) and then
replays the stored response; the same key with a different request is a 422.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.core.problems import ValidationProblem, field_error, validation_problem
from app.models import IdempotencyKey

HEADER = "Idempotency-Key"
STORED_HEADERS = ("location", "etag")


@dataclass(frozen=True)
class RequestFingerprint:
    key: str
    digest: str


@dataclass(frozen=True)
class Claim:
    caller: str
    key: str


class IdempotentReplay(Exception):  # noqa: N818 (control flow: answers with the stored response)
    """Raised instead of running a request whose key already holds a stored response."""

    def __init__(self, status_code: int, body: bytes, headers: dict[str, str]) -> None:
        super().__init__(status_code)
        self.status_code = status_code
        self.body = body
        self.headers = headers


def claim(
    session: Session, caller: str, request: RequestFingerprint, now: datetime, ttl: timedelta
) -> Claim:
    """Claim the key for this transaction, or raise the replay of the request that holds it."""
    while True:
        stored = session.scalars(
            select(IdempotencyKey).where(
                IdempotencyKey.caller == caller, IdempotencyKey.key == request.key
            )
        ).first()
        if stored is not None and stored.expires_at <= now:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.seq == stored.seq))
            stored = None
        if stored is not None:
            raise _replay_of(stored, request)
        if _insert_claim(session, caller, request, now, ttl):
            return Claim(caller, request.key)
        # Another transaction claimed the key and committed while we waited: replay it.


def store(
    session: Session, claim: Claim, status_code: int, body: bytes, headers: Mapping[str, str]
) -> None:
    """Keep a successful response with its claim for replays; anything else releases the key
    (the request wrote nothing, so its retry must run again)."""
    if not 200 <= status_code < 300:
        release(session, claim)
        return
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.caller == claim.caller, IdempotencyKey.key == claim.key)
        .values(
            status_code=status_code,
            response_body=body,
            response_headers={name: headers[name] for name in STORED_HEADERS if name in headers},
        )
    )


def release(session: Session, claim: Claim) -> None:
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.caller == claim.caller, IdempotencyKey.key == claim.key
        )
    )


@dataclass(frozen=True)
class StoredResponse:
    """What a request answered, as a key keeps it for replays."""

    status_code: int
    body: bytes
    headers: Mapping[str, str]


Keyed = tuple[str, RequestFingerprint | None]
"""A request of a batch as its key sees it: the caller, and its key (None: sent without one)."""


@dataclass
class BatchClaims:
    """What claiming a batch's keys decided, by the request's index in the batch."""

    held: dict[int, Claim]
    """Requests that run, holding their key."""
    answered: dict[int, Exception]
    """Requests answered without running: replays, and keys reused for another request."""
    repeats: dict[int, int]
    """A key sent twice in one batch: the later request's index -> the one holding the key."""

    def runs(self, index: int) -> bool:
        return index not in self.answered and index not in self.repeats


def claim_batch(
    session: Session, requests: Sequence[Keyed], now: datetime, ttl: timedelta
) -> BatchClaims:
    """Claim the keys of a batch of requests in one transaction; each key is claimed once,
    in one global order (caller, key), so two batches never wait on each other's keys."""
    claims = BatchClaims({}, {}, {})
    holder_of: dict[tuple[str, str], int] = {}
    keyed = [(i, caller, key) for i, (caller, key) in enumerate(requests) if key is not None]
    for index, caller, request in sorted(keyed, key=lambda entry: (entry[1], entry[2].key)):
        holder = holder_of.setdefault((caller, request.key), index)
        if holder != index:
            claims.repeats[index] = holder
            continue
        try:
            claims.held[index] = claim(session, caller, request, now, ttl)
        except (IdempotentReplay, ValidationProblem) as answer:
            claims.answered[index] = answer
    return claims


def settle_batch(
    session: Session,
    requests: Sequence[Keyed],
    claims: BatchClaims,
    outcomes: Mapping[int, StoredResponse | Exception],
) -> list[StoredResponse | Exception]:
    """Store each held key with its request's response, or release it when the request failed
    (it wrote nothing: its retry must run again); answer the repeats of a key as replays of the
    first (a 422 when their request differs). `outcomes` has an entry for every request that
    ran: its response, or the exception it answers with."""
    answers: dict[int, StoredResponse | Exception] = {**claims.answered, **outcomes}
    for index, held in claims.held.items():
        outcome = outcomes[index]
        if isinstance(outcome, Exception):
            release(session, held)
        else:
            store(session, held, outcome.status_code, outcome.body, outcome.headers)
    for index, holder in claims.repeats.items():
        answers[index] = _repeat_answer(requests[index], requests[holder], answers[holder])
    return [answers[index] for index in range(len(requests))]


def _repeat_answer(
    repeat: Keyed, first: Keyed, first_answer: StoredResponse | Exception
) -> StoredResponse | Exception:
    (_, repeat_key), (_, first_key) = repeat, first
    if repeat_key is None or first_key is None or repeat_key.digest != first_key.digest:
        return _key_reused()
    if isinstance(first_answer, StoredResponse):
        return IdempotentReplay(
            first_answer.status_code, first_answer.body, dict(first_answer.headers)
        )
    return first_answer


def purge_expired(session: Session, now: datetime) -> None:
    """Delete the keys past their TTL (a key is also dropped when reused after expiry, but one
    never reused would otherwise stay for ever)."""
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))


def _insert_claim(
    session: Session, caller: str, request: RequestFingerprint, now: datetime, ttl: timedelta
) -> bool:
    values: dict[str, Any] = {
        "caller": caller,
        "key": request.key,
        "fingerprint": request.digest,
        "created_at": now,
        "expires_at": now + ttl,
    }
    postgresql = session.get_bind().dialect.name == "postgresql"
    insert = postgresql_insert(IdempotencyKey) if postgresql else sqlite_insert(IdempotencyKey)
    statement = insert.values(values).on_conflict_do_nothing().returning(IdempotencyKey.seq)
    return session.execute(statement).first() is not None


def _replay_of(stored: IdempotencyKey, request: RequestFingerprint) -> Exception:
    if stored.fingerprint != request.digest:
        return _key_reused()
    if stored.status_code is None or stored.response_body is None:
        raise RuntimeError("an idempotency key was committed without its response")
    return IdempotentReplay(stored.status_code, stored.response_body, stored.response_headers or {})


def _key_reused() -> ValidationProblem:
    return validation_problem(
        [
            field_error(
                ("header", HEADER),
                "this key was already used with a different request",
                "key_reused",
            )
        ]
    )
