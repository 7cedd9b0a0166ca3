"""Webhook rules free of I/O: the event vocabulary, secrets and signatures (Standard Webhooks),
the retry schedule, and what an attempt's answer means for the message."""

import base64
import email.utils
import hashlib
import hmac
import math
import random
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

EventType = Literal["entropy_response.triggered", "pattern.status_changed"]
"""What an endpoint can subscribe to."""
MessageType = Literal[EventType, "ping"]
"""What a message can be: a subscribed event, or a ping sent to one endpoint on request."""
DeliveryStatus = Literal["pending", "delivered", "failed"]
StatusCause = Literal["response", "request"]
"""Why a pattern's status changed: an entropy response revisited it, or a PATCH set it."""
Outcome = Literal["delivered", "retry", "failed", "gone", "lease_lost"]
"""What became of one attempt (the `outcome` label of webhook_deliveries_total): delivered; a
failure to retry later; a failure with no retry left; 410 Gone (the endpoint is disabled); or
not recorded, because another claim had taken the message over (its lease had expired)."""

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SECRET_OVERLAP = timedelta(hours=24)
"""After a rotation the previous secret signs beside the new one for this long."""
RETRY_AFTER_STATUSES = frozenset({429, 502, 504})
GONE = 410
MAX_RETRY_AFTER = timedelta(hours=24)
"""A Retry-After further away than this is read as this: a receiver cannot park a message
for ever."""
JITTER = 0.1
"""Each retry delay is spread by up to this fraction either way, so a receiver that failed many
messages at once does not get them all back in the same second."""
DEFAULT_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_schedule(text: str) -> tuple[float, ...]:
    """`5s,5m,30m,2h` -> delays in seconds before each retry; ValueError naming a bad entry."""
    delays = []
    for position, entry in enumerate(text.split(","), start=1):
        match = _DURATION.fullmatch(entry)
        if match is None:
            raise ValueError(
                f"entry {position} ({entry.strip()!r}) is not a duration such as 5s, 5m, 2h "
                "(units: ms, s, m, h, d)"
            )
        delays.append(float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return tuple(delays)


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (the signing key itself)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_message_id() -> str:
    """A message id: `msg_` and 32 hex digits (no `.`, which the signed content separates on)."""
    return f"msg_{secrets.token_hex(16)}"


def _key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature_header(
    secrets_in_use: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> str:
    """`webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` per secret,
    space-separated. Hand-written: it is one HMAC, and the reference library stays what it is
    in the tests, an independent verifier."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key_of(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets_in_use
    )


def signing_secrets(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    """The secrets that sign an attempt made now: the current one, and the previous one while
    its overlap lasts."""
    if previous is not None and previous_expires_at is not None and now < previous_expires_at:
        return [secret, previous]
    return [secret]


@dataclass(frozen=True)
class Verdict:
    """What an attempt's answer means: the message's new status, when to try again, and the
    outcome counted."""

    status: DeliveryStatus
    outcome: Outcome
    retry_in: float | None = None
    disable_endpoint: bool = False


def judge_attempt(
    status_code: int | None,
    retry_after: float | None,
    *,
    failures_so_far: int,
    schedule: Sequence[float],
    rng: random.Random | None = None,
) -> Verdict:
    """A 2xx is delivered; 410 fails the message and disables the endpoint; anything else (a
    timeout, a refused connection or address: `status_code` None) retries on the schedule,
    `failures_so_far` of whose steps are used up, and waits at least `retry_after` when a
    429/502/504 asked for it; with no step left it is failed."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict("delivered", "delivered")
    if status_code == GONE:
        return Verdict("failed", "gone", disable_endpoint=True)
    if failures_so_far >= len(schedule):
        return Verdict("failed", "failed")
    spread = (rng or random.Random()).uniform(-JITTER, JITTER)
    delay = max(0.0, schedule[failures_so_far] * (1 + spread))
    if status_code in RETRY_AFTER_STATUSES and retry_after is not None:
        delay = max(delay, retry_after)
    return Verdict("pending", "retry", retry_in=delay)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now (RFC 9110: delay-seconds or an HTTP date), capped at
    MAX_RETRY_AFTER; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER.total_seconds())
