"""API keys: how they are made, hashed, stored and managed (`entropy-budget keys`).

A key is `eb_` followed by `secrets.token_urlsafe(32)`: 256 random bits. Only its SHA-256 is
stored (in `api_keys`, or in the `API_KEYS` setting). A fast unsalted hash is enough for keys
this random: salting and slow hashing (bcrypt, argon2) defend guessable passwords against
dictionary attacks, and nobody can enumerate 2^256 keys; a fast hash also keeps the check
cheap on every request. The plaintext is shown once, when the key is created, and never again.
"""

import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.settings import KeyScope
from app.models import ApiKey

KEY_PREFIX = "eb_"
SHOWN_PREFIX_LENGTH = 8
"""`keys list` shows a key's first 8 characters (`eb_` and 5 random ones) to recognise it."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class KeyManagementError(Exception):
    """A key management request that cannot be done (unknown key, name taken...)."""


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The SHA-256 of the key, in lowercase hex (what `API_KEYS` and the table hold)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    record: ApiKey
    key: str
    """The plaintext: shown once, never stored."""


def create_key(session: Session, *, name: str, scope: KeyScope, now: datetime) -> CreatedKey:
    if not NAME_PATTERN.fullmatch(name):
        raise KeyManagementError("a key name is 1-128 characters of A-Z a-z 0-9 . _ : -")
    if scope not in get_args(KeyScope):
        raise KeyManagementError(f"the scope is one of {', '.join(get_args(KeyScope))}")
    if session.scalars(select(ApiKey.id).where(ApiKey.name == name)).first() is not None:
        raise KeyManagementError(f"a key named {name!r} already exists (names are never reused)")
    key = generate_key()
    record = ApiKey(
        id=uuid.uuid4().hex,
        name=name,
        scope=scope,
        key_hash=hash_key(key),
        prefix=key[:SHOWN_PREFIX_LENGTH],
        created_at=now,
    )
    session.add(record)
    try:
        session.flush()
    except IntegrityError:
        raise KeyManagementError(
            f"a key named {name!r} already exists (names are never reused)"
        ) from None
    return CreatedKey(record, key)


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.seq)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(statement))


def revoke_key(session: Session, name_or_id: str, *, now: datetime) -> ApiKey:
    """Revoke the key with this name or id; revoking a revoked key is an error (it says when)."""
    record = session.scalars(
        select(ApiKey).where(or_(ApiKey.name == name_or_id, ApiKey.id == name_or_id))
    ).first()
    if record is None:
        raise KeyManagementError(f"no key named or with id {name_or_id!r}")
    if record.revoked_at is not None:
        raise KeyManagementError(
            f"key {record.name!r} was already revoked at {record.revoked_at.isoformat()}"
        )
    record.revoked_at = now
    session.flush()
    return record


def active_keys(session: Session) -> list[tuple[str, str, str]]:
    """(id, scope, key_hash) of every key not revoked."""
    rows = session.execute(
        select(ApiKey.id, ApiKey.scope, ApiKey.key_hash).where(ApiKey.revoked_at.is_(None))
    )
    return [(row.id, row.scope, row.key_hash) for row in rows]


def record_uses(session: Session, used: Mapping[str, datetime]) -> None:
    """Stamp `last_used_at` of each key id with the time it was used, unless a later use is
    already there (one UPDATE per key)."""
    for key_id, at in used.items():
        session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < at),
            )
            .values(last_used_at=at)
        )
