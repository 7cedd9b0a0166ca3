"""Pure ASGI middleware (no BaseHTTPMiddleware: it would cost every request a task).

Outermost first, as `create_app` stacks them: ApiKeyAuth (401/403, `app.core.auth`),
RateLimit (429), BodySizeLimit (413), JsonContentType (415), Utf8JsonBody (422). Being
middleware, each covers every route, the lean readings route as much as the standard ones.
"""

import json
import logging
import math
import time
from collections.abc import Callable, Collection
from typing import Any

from limits import RateLimitItem
from limits.aio import strategies as aio_strategies
from limits.aio.storage import RedisStorage
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.auth import route_path
from app.core.http import is_json_media_type
from app.core.methods import WRITE_METHODS
from app.core.problems import NOT_UTF8_JSON, body_problem, http_problem, problem_response

logger = logging.getLogger("app.rate_limit")


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with a 413 problem, declared or streamed.

    Starlette's own limiter answers in plain text; ours keeps the problem format. A declared
    Content-Length over the limit is refused before the app runs; a body that grows past it
    while being read raises a 413 HTTPException inside the route, answered by its handlers.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(http_problem(413, self._detail()))
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, receive_within_limit, send)

    def _detail(self) -> str:
        return f"The request body exceeds {self.max_bytes} bytes."


MAX_JSON_MEMBERS = 10_000
"""More object members than any valid body has (the largest, a batch of 1000 applications,
has about 7000). A 1 MiB body can hold 100,000 unknown fields, each of which pydantic would
report: seconds of CPU and a multi-megabyte 422 for one request."""


class Utf8JsonBody:
    """A JSON request body must be UTF-8: anything else is a 422 before the app sees it.

    The standard library's json.loads(bytes) silently guesses UTF-16 and UTF-32 from NUL
    bytes, which valid UTF-8 JSON never contains raw. Bodies are already bounded by
    BodySizeLimit, so buffering one to check it is cheap. A body with more than
    MAX_JSON_MEMBERS object members is a 422 too, before validation would list them all.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_json_media_type(header(scope, b"content-type") or b""):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\x00" in body or not _is_utf8(body):
            await problem_response(body_problem(NOT_UTF8_JSON))(scope, receive, send)
            return
        # Every object member has a colon: a quick count first, the exact one only when it
        # could be over the limit.
        if body.count(b":") > MAX_JSON_MEMBERS and _json_members(body) > MAX_JSON_MEMBERS:
            problem = body_problem(f"The JSON body has more than {MAX_JSON_MEMBERS} object members")
            await problem_response(problem)(scope, receive, send)
            return
        await self.app(
            scope,
            _replay([{"type": "http.request", "body": body, "more_body": False}], receive),
            send,
        )


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (`name` lower-case), straight from the scope: no
    `Headers` object (which decodes every header) for a layer that reads one."""
    for key, value in scope["headers"]:
        if key == name:
            value_bytes: bytes = value
            return value_bytes
    return None


def _json_members(body: bytes) -> int:
    """How many object members the JSON body has (0 when it is not JSON: the app says so)."""
    members = 0

    def count(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal members
        members += len(pairs)
        return {}

    try:
        json.loads(body, object_pairs_hook=count)
    except (ValueError, RecursionError):
        return 0
    return members


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive channel that hands out `messages` first, then the original channel."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


class JsonContentType:
    """A request body that is not JSON is a 415 problem, before the app reads it.

    Every endpoint that takes a body takes JSON: `application/json` or `application/*+json`
    (parameters such as `charset` allowed). A body sent as text/plain, as form data, or with no
    Content-Type at all is refused; a request without a body (GET, or a POST whose body is
    optional and absent) passes whatever its headers say.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        # One pass over the raw headers: this runs on every write, the readings hot path too.
        content_type = declared = chunked = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = value
        if content_type is not None and is_json_media_type(content_type):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if declared is not None:
            if declared.strip().isdigit() and int(declared) == 0:
                await self.app(scope, receive, send)
            else:
                await self._refuse(headers)(scope, receive, send)
            return
        if chunked is None:
            await self.app(scope, receive, send)  # no body at all
            return
        await self._chunked(scope, receive, send, headers)

    async def _chunked(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        """A chunked body: look at it before deciding (an empty one is no body)."""
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            if message.get("body"):
                await self._refuse(headers)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(messages, receive), send)

    @staticmethod
    def _refuse(headers: Headers) -> ASGIApp:
        sent = headers.get("content-type")
        what = f"Content-Type {sent!r}" if sent else "no Content-Type"
        return problem_response(
            http_problem(
                415,
                f"The request body has {what}; send JSON as application/json "
                "(or an application/*+json type).",
                {"Accept": "application/json"},
            )
        )


RATE_LIMITERS: dict[str, type[RateLimiter]] = {
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}
SHARED_RATE_LIMITERS: dict[str, type[aio_strategies.RateLimiter]] = {
    "moving-window": aio_strategies.MovingWindowRateLimiter,
    "fixed-window": aio_strategies.FixedWindowRateLimiter,
    "sliding-window-counter": aio_strategies.SlidingWindowCounterRateLimiter,
}
SHARED_STORAGE_TIMEOUT_SECONDS = 0.25
"""Longest a request waits on Redis (connecting, or an answer) before it is served unchecked."""
SHARED_STORAGE_RETRY_SECONDS = 1.0
"""After a Redis failure, requests are served unchecked for this long before Redis is tried
again: a Redis that is down costs each request nothing, not a failed connection each."""
FAILURE_LOG_INTERVAL_SECONDS = 10.0
"""One warning per interval while Redis fails, with the number of requests served unchecked."""


class SharedCounts:
    """The counts in Redis (the `limits` library's async Redis storage, on redis-py's asyncio
    client), shared by every worker and replica that names the same Redis and key prefix.

    Fail-open: when Redis cannot answer, the request is served without a check, counted by
    `on_unchecked` (a metric), and logged at most once per FAILURE_LOG_INTERVAL_SECONDS. A
    rate limit protects the service; refusing every request because its counter is away
    would make Redis a single point of failure of the whole API."""

    def __init__(
        self,
        uri: str,
        *,
        strategy: str,
        key_prefix: str,
        on_unchecked: Callable[[], None],
    ) -> None:
        storage = RedisStorage(
            f"async+{uri}",
            implementation="redispy",
            key_prefix=key_prefix,
            wrap_exceptions=True,
            socket_timeout=SHARED_STORAGE_TIMEOUT_SECONDS,
            socket_connect_timeout=SHARED_STORAGE_TIMEOUT_SECONDS,
        )
        self.limiter = SHARED_RATE_LIMITERS[strategy](storage)
        self.on_unchecked = on_unchecked
        self._retry_at = 0.0
        self._unlogged = 0
        self._logged_at = -math.inf

    async def hit(self, limit: RateLimitItem, caller: str) -> bool:
        """Whether the caller is within its limit (True as well when Redis cannot tell)."""
        if time.monotonic() < self._retry_at:
            self._unchecked(None)
            return True
        try:
            return await self.limiter.hit(limit, caller)
        except StorageError as error:
            self._retry_at = time.monotonic() + SHARED_STORAGE_RETRY_SECONDS
            self._unchecked(error.storage_error)
            return True

    async def reset_time(self, limit: RateLimitItem, caller: str) -> float:
        try:
            return (await self.limiter.get_window_stats(limit, caller)).reset_time
        except StorageError:
            return time.time() + limit.get_expiry()

    def _unchecked(self, error: Exception | None) -> None:
        self.on_unchecked()
        self._unlogged += 1
        now = time.monotonic()
        if error is not None and now - self._logged_at >= FAILURE_LOG_INTERVAL_SECONDS:
            logger.warning(
                "rate limit storage (Redis) failed: %s: %s; %d request(s) served without a "
                "rate-limit check (fail-open), retrying Redis every %.0f s",
                error.__class__.__name__,
                error,
                self._unlogged,
                SHARED_STORAGE_RETRY_SECONDS,
            )
            self._logged_at, self._unlogged = now, 0


class RateLimit:
    """At most `limit` requests per caller and window, else a 429 problem with Retry-After.

    The caller is the API key (`scope["state"]["caller"]`, set by ApiKeyAuth), else the client
    address (the proxy's `X-Forwarded-For` when uvicorn trusts it). With `storage`
    `memory://` the counts live in this process's memory (the `limits` library's memory
    storage): each worker process counts on its own, so a caller spread over W workers and R
    replicas may reach W x R x limit. With `redis://...` they live in Redis (`SharedCounts`):
    one count per caller for every process that uses that Redis and key prefix.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: RateLimitItem,
        strategy: str,
        storage: str,
        key_prefix: str,
        exempt: Collection[str],
        on_unchecked: Callable[[], None],
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)
        self.limiter = RATE_LIMITERS[strategy](MemoryStorage())
        self.shared = (
            None
            if storage.startswith("memory://")
            else SharedCounts(
                storage, strategy=strategy, key_prefix=key_prefix, on_unchecked=on_unchecked
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) in self.exempt:
            await self.app(scope, receive, send)
            return
        caller = scope.get("state", {}).get("caller") or _client_address(scope)
        if self.shared is None:
            if self.limiter.hit(self.limit, caller):
                await self.app(scope, receive, send)
                return
            reset_at = self.limiter.get_window_stats(self.limit, caller).reset_time
        else:
            if await self.shared.hit(self.limit, caller):
                await self.app(scope, receive, send)
                return
            reset_at = await self.shared.reset_time(self.limit, caller)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        problem = http_problem(
            429,
            f"More than {self.limit.amount} requests in {_window(self.limit)} from this "
            f"caller; retry after {retry_after} s.",
            {"Retry-After": str(retry_after)},
        )
        await problem_response(problem)(scope, receive, send)


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return f"{item.multiples} {unit}s" if item.multiples != 1 else f"1 {unit}"
