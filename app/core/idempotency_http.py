"""Idempotency-Key on POST requests, the HTTP side (IETF draft "The Idempotency-Key HTTP Header
Field"): the header read and checked, the request's fingerprint, the caller the key belongs to,
the claim and the store around a standard route's transaction, and the replayed response. The
keys' lifecycle in the database is `app.core.idempotency`.
"""

import hashlib
import json
import re
from datetime import timedelta
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from app.core import idempotency
from app.core.idempotency import HEADER, RequestFingerprint
from app.core.problems import field_error, validation_problem

REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
ANONYMOUS_CALLER = "anonymous"


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Method, path and the body as JSON (key order and whitespace do not matter)."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, RecursionError):
        canonical = body
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


async def request_fingerprint(request: Request) -> RequestFingerprint | None:
    """The key and fingerprint of a POST carrying an Idempotency-Key; None otherwise."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise validation_problem(
            [
                field_error(
                    ("header", HEADER), "must be 1-255 visible ASCII characters", "key_invalid"
                )
            ]
        )
    body = await request.body()
    return RequestFingerprint(key, fingerprint(request.method, request.url.path, body))


IdempotencyKeyDep = Annotated[RequestFingerprint | None, Depends(request_fingerprint)]
"""A POST's Idempotency-Key, checked before the path and body are validated."""


def caller_of(request: Request) -> str:
    """Keys are scoped to the caller: its API key, or anonymous when the service runs open."""
    caller: str = getattr(request.state, "caller", ANONYMOUS_CALLER)
    return caller


def claim_key(request: Request, session: Session, key: RequestFingerprint) -> None:
    """Claim the request's key in its transaction (or raise the replay of the one holding it)."""
    request.state.idempotency_claim = idempotency.claim(
        session,
        caller_of(request),
        key,
        now=request.app.state.clock(),
        ttl=timedelta(seconds=request.app.state.settings.idempotency_ttl_seconds),
    )


async def store_response(request: Request, response: Response) -> None:
    """Keep the response with the key the request claimed, still inside its transaction (the
    session commits after this)."""
    claim: idempotency.Claim | None = getattr(request.state, "idempotency_claim", None)
    if claim is not None:
        await run_in_threadpool(
            idempotency.store,
            request.state.db_session,
            claim,
            response.status_code,
            bytes(response.body),
            response.headers,
        )


def replayed(replay: idempotency.IdempotentReplay) -> Response:
    """The stored response, marked as a replay."""
    return Response(
        content=replay.body,
        status_code=replay.status_code,
        media_type="application/json",
        headers={**replay.headers, REPLAYED_HEADER: "true"},
    )


async def replay_response(_request: Request, exc: Exception) -> Response:
    """The exception handler of IdempotentReplay."""
    assert isinstance(exc, idempotency.IdempotentReplay)
    return replayed(exc)
