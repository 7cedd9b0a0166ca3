"""The real app, with a clock that moves seven minutes before every write request.

Served by uvicorn in the browser test, so that records seeded within a second spread over a
couple of hours, as they would in production, and the charts' time axes have something to show.
Within one request the time stands still, as it nearly does with a real clock; reads (the page's
polling) do not move it. A write with an `X-Test-Now` header (RFC 3339) happens at that time
instead, for tests that place records at given ages.
"""

import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request, Response

from app.main import create_app as create_real_app

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
STEP = timedelta(minutes=7)
NOW_HEADER = "X-Test-Now"


class SteppingClock:
    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def step(self, by: timedelta = STEP) -> None:
        with self._lock:
            self._now += by

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


def create_app() -> FastAPI:
    clock = SteppingClock()
    app = create_real_app(clock=clock)

    @app.middleware("http")
    async def step_before_writes(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method != "GET":
            if NOW_HEADER in request.headers:
                clock.set(datetime.fromisoformat(request.headers[NOW_HEADER]))
            else:
                clock.step()
        return await call_next(request)

    return app
