"""Keyset pagination over (timestamp, insertion sequence), newest first.

Hand-written on purpose: the contract fixes `items`/`next_cursor`, `limit` (1..1000, no silent
clamping), `cursor`, `since`/`until` and a 422 for an unreadable cursor, which the generic
paginators (fastapi-pagination, sqlakeyset) would each have to be bent into. It is one tuple
comparison on an index, so a page costs the same on the first and the millionth record.
"""

import base64
import binascii
import json
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field
from sqlalchemy import Row, Select, tuple_
from sqlalchemy.orm import QueryableAttribute, Session

from app.core.problems import field_error, validation_problem

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


T = TypeVar("T")
M = TypeVar("M")


class Page(BaseModel, Generic[T]):
    """A page of a list, newest first."""

    items: list[T] = Field(description="This page's items, in the list's order.")
    next_cursor: str | None = Field(
        default=None,
        description="Send it back as `cursor` for the next page; null on the last page.",
        examples=["WyIyMDI2LTAzLTAxVDEyOjAwOjA1KzAwOjAwIiw0Ml0"],
    )


@dataclass(frozen=True)
class Position:
    at: datetime
    seq: int

    def encode(self) -> str:
        raw = json.dumps([self.at.isoformat(), self.seq], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> "Position":
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            at_text, seq = json.loads(raw)
            at = datetime.fromisoformat(at_text)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
            raise ValueError("unreadable cursor") from error
        if at.tzinfo is None or not isinstance(seq, int) or isinstance(seq, bool):
            raise ValueError("unreadable cursor")
        return cls(at, seq)


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: Position | None


@dataclass(frozen=True)
class TimeWindow:
    since: datetime | None
    until: datetime | None


def page_request(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1..1000).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="`next_cursor` of the previous page."),
    ] = None,
) -> PageRequest:
    if not cursor:
        return PageRequest(limit, None)
    try:
        return PageRequest(limit, Position.decode(cursor))
    except ValueError:
        raise validation_problem(
            [field_error(("query", "cursor"), "unreadable cursor", "cursor_invalid")]
        ) from None


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    """pydantic also reads numbers as Unix times (`until=0.5` is 1970-01-01T00:00:00.5Z) and
    other ISO 8601 shapes; the contract takes RFC 3339 date-times with an offset only."""
    if isinstance(value, str) and not RFC3339.fullmatch(value):
        raise ValueError("not an RFC 3339 date-time with an offset (2026-03-01T12:00:00Z)")
    return value


TimeBound = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def time_window(
    since: Annotated[
        TimeBound | None,
        Query(description="Inclusive lower bound, RFC 3339 with an offset."),
    ] = None,
    until: Annotated[
        TimeBound | None,
        Query(description="Exclusive upper bound, RFC 3339 with an offset."),
    ] = None,
) -> TimeWindow:
    return TimeWindow(since, until)


PageParams = Annotated[PageRequest, Depends(page_request)]
TimeWindowParams = Annotated[TimeWindow, Depends(time_window)]


def keyset_page(
    session: Session,
    statement: Select[M],
    *,
    at: QueryableAttribute[datetime],
    seq: QueryableAttribute[int],
    page: PageRequest,
    window: TimeWindow | None = None,
) -> tuple[Sequence[M], str | None]:
    """One page of `statement`, newest first, and the cursor of the next page (None at the end)."""
    statement = _newest_first(statement, at=at, seq=seq, after=page.after, window=window)
    rows = session.scalars(statement.limit(page.limit + 1)).all()
    if len(rows) <= page.limit:
        return rows, None
    last: Any = rows[page.limit - 1]
    next_position = Position(getattr(last, at.key), getattr(last, seq.key))
    return rows[: page.limit], next_position.encode()


def keyset_chunks(
    session: Session,
    statement: Select[Any],
    *,
    at: QueryableAttribute[datetime],
    seq: QueryableAttribute[int],
    after: Position | None,
    window: TimeWindow | None,
    size: int,
) -> Generator[Sequence[Row[Any]], None, None]:
    """Every row of `statement` after `after`, newest first, in chunks of at most `size` rows:
    one query per chunk, each starting where the previous one ended (never OFFSET). The rows
    and their order are those of walking every page with `keyset_page`.

    `statement` selects columns (Core rows, not ORM objects) including `at` and `seq`; the
    session's transaction is the caller's, so every chunk reads from the same snapshot when
    the caller keeps one transaction open."""
    position = after
    while True:
        chunk = session.execute(
            _newest_first(statement, at=at, seq=seq, after=position, window=window).limit(size)
        ).all()
        if chunk:
            yield chunk
        if len(chunk) < size:
            return
        last = chunk[-1]
        position = Position(getattr(last, at.key), getattr(last, seq.key))


def _newest_first(
    statement: Select[M],
    *,
    at: QueryableAttribute[datetime],
    seq: QueryableAttribute[int],
    after: Position | None,
    window: TimeWindow | None,
) -> Select[M]:
    """`statement` within the window, strictly after `after`, newest first (ties: the later
    insertion first)."""
    if window is not None and window.since is not None:
        statement = statement.where(at >= window.since)
    if window is not None and window.until is not None:
        statement = statement.where(at < window.until)
    if after is not None:
        statement = statement.where(tuple_(at, seq) < tuple_(after.at, after.seq))
    return statement.order_by(at.desc(), seq.desc())
