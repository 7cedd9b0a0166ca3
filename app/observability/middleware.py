"""The outermost layers of the app: the request id, and per request a metric and an access log line.

Pure ASGI (no BaseHTTPMiddleware): the readings hot path goes through them, so they cost a
timer, a wrapped `send` and a dictionary look-up per request (measured in docs/observability.md).

They wrap even Starlette's ServerErrorMiddleware (see `wrap_outermost`): a 500 is counted and
logged with its real status, and carries the X-Request-ID the client needs to report it.
"""

import logging
import random
import re
from collections.abc import Callable
from time import perf_counter

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import log_complete_line
from app.observability.metrics import UNMATCHED_ROUTE, Metrics

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""Incoming request ids are kept when they look like ids (uuids, nginx's $request_id, trace
ids...); anything else is replaced by a new id (32 hex digits), so logs never carry a client's
junk."""


def valid_request_id(value: str) -> bool:
    return REQUEST_ID_PATTERN.fullmatch(value) is not None


def new_request_id() -> str:
    """128 random bits in hex, like a uuid4's, without a system call per request: an id needs
    to be unique, not unpredictable (the client sees it anyway). `random` reseeds in a forked
    child, so workers do not repeat each other."""
    return f"{random.getrandbits(128):032x}"


class RequestTelemetry:
    """Counts and times every HTTP request by method, route template and status, and logs it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, *, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self._access_log = access_log
        self._access_logger = logging.getLogger("app.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        root_path: str = scope.get("root_path", "")
        status = 500  # what the client gets if the app fails before it answers

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            seconds = perf_counter() - started
            route = _route_template(scope, root_path)
            method: str = scope["method"]
            self.metrics.observe_request(method, route, status, seconds)
            if self._access_log and self._access_logger.isEnabledFor(logging.INFO):
                log_complete_line(
                    self._access_logger,
                    logging.INFO,
                    "request",
                    method=method,
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(seconds * 1000, 3),
                )


def _route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that served the request, never the raw path (which would
    make one series per job or pattern id). The router leaves the matched route in the scope;
    a mounted app (static files) leaves its prefix in `root_path` instead."""
    path_format: str | None = getattr(scope.get("route"), "path_format", None)
    if path_format:
        return path_format
    mounted_at: str = scope.get("root_path", "")
    if mounted_at != root_path and mounted_at.startswith(root_path):
        return f"{mounted_at[len(root_path) :]}/{{path}}"
    return UNMATCHED_ROUTE


def wrap_outermost(app: FastAPI, metrics: Metrics, *, access_log: bool = True) -> None:
    """Put the request id and the telemetry outside the whole middleware stack, Starlette's
    ServerErrorMiddleware included (`add_middleware` can only add layers inside it)."""
    build_stack: Callable[[], ASGIApp] = app.build_middleware_stack

    def build_wrapped_stack() -> ASGIApp:
        return CorrelationIdMiddleware(
            RequestTelemetry(build_stack(), metrics, access_log=access_log),
            header_name=REQUEST_ID_HEADER,
            update_request_header=False,  # nothing reads it from the request: save the work
            generator=new_request_id,
            validator=valid_request_id,
        )

    app.build_middleware_stack = build_wrapped_stack  # type: ignore[method-assign]
