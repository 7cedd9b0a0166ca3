"""The application's clock: every stored timestamp is timezone-aware UTC and comes from here."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def get_clock(request: Request) -> Clock:
    """The app's clock (tests install a controllable one through `create_app`)."""
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]
