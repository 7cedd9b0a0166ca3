"""Streamed exports of the histories: CSV and NDJSON, in constant memory.

A history endpoint answers its JSON page by default (no `Accept`, `application/json`, `*/*`).
When `Accept` prefers `text/csv` or `application/x-ndjson` (see `app.core.negotiation`), it
streams every record matching its filters (`job_hash`, `since`, `until`), newest first as the
pages are, starting after `cursor` when one is given; `limit` (the page size) does not apply.
An `Accept` that takes none of the three is a 406 problem.

Values are those of the JSON API, serialised by the same pydantic models: NDJSON lines are the
JSON items byte for byte; a CSV cell holds the JSON text of its value (RFC 3339 UTC times, floats
as the JSON API writes them, `true`/`false`, lists as JSON arrays) except that strings appear
unquoted and null is an empty cell. The CSV has a header row of the field names and CRLF line ends
(RFC 4180); the csv module quotes cells holding commas, quotes or line breaks.

Snapshot and chunking. The request's session is committed before a streaming body runs, so an
export opens its own read session, and keeps ONE read transaction for its whole length: a
consistent snapshot however long it streams (REPEATABLE READ on PostgreSQL, a deferred
transaction in WAL mode on SQLite), so no record is missed or repeated by writes that land
while it streams. Inside it the rows are read in keyset chunks (`export_chunk_rows`, 1000 by
default: one indexed query each, with the same filters and order as the pages, never OFFSET), and
each chunk is formatted into a drained buffer and handed to the server before the next is read.
Memory is so bounded by one chunk by construction, on every driver, without relying on
server-side cursors (which pysqlite does not have). The first chunk is read before the response
starts, so a database that is down is still a 503 problem; a failure after that aborts the
transfer (the client sees an incomplete body, never a short file that looks whole).

The price of the snapshot is that an export holds one pooled connection and an open read
transaction while it streams (on SQLite the WAL cannot be checkpointed past it meanwhile). So at
most `export_max_concurrent` exports run at once per process (beyond: 503 with Retry-After), and
`ExportResponse` closes the export (its generator, its session, its slot) however the response
ends: completed, client gone mid-stream, or failed. Chunks are produced by a sync generator that
Starlette runs in its thread pool, one chunk per call, so the event loop never waits on the
database.
"""

import csv
import io
import logging
import threading
import weakref
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Annotated, Any, Protocol

import anyio
from fastapi import Depends, Request
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_json
from sqlalchemy import Row, Select
from sqlalchemy.orm import QueryableAttribute, Session
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.core.http import problem_responses
from app.core.negotiation import negotiate
from app.core.pagination import Position, TimeWindow, keyset_chunks
from app.core.problems import NotAcceptableProblem, ServiceOverloadedProblem

logger = logging.getLogger("app.export")

JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8; header=present"
NDJSON_MEDIA_TYPE = "application/x-ndjson"
HISTORY_MEDIA_TYPES = (JSON_MEDIA_TYPE, CSV_MEDIA_TYPE, NDJSON_MEDIA_TYPE)
"""What a history endpoint offers, in the server's order of preference (JSON on a tie)."""

_EXTENSIONS = {CSV_MEDIA_TYPE: "csv", NDJSON_MEDIA_TYPE: "ndjson"}
EXPORT_RETRY_AFTER_SECONDS = 5


def history_media_type(request: Request, response: Response) -> str:
    """The dependency choosing a history's representation from `Accept` (406 if none fits);
    the JSON page, like the streamed export, says it varies with `Accept`."""
    accept = ", ".join(request.headers.getlist("accept"))
    chosen = negotiate(accept, HISTORY_MEDIA_TYPES)
    if chosen is None:
        shown = accept if len(accept) <= 200 else accept[:200] + "..."
        raise NotAcceptableProblem(
            f"Accept: {shown} accepts none of application/json, text/csv, application/x-ndjson."
        )
    response.headers["Vary"] = "Accept"
    return chosen


HistoryMediaType = Annotated[str, Depends(history_media_type)]


@dataclass(frozen=True)
class ExportQuery:
    """What to export: the rows of `statement` (columns named as the record's fields, filtered,
    unordered) after `after` within `window`, newest first by (`at`, `seq`)."""

    name: str
    """The attachment's file name without its extension: `budget-history`."""
    record: type[BaseModel]
    statement: Select[Any]
    at: QueryableAttribute[datetime]
    seq: QueryableAttribute[int]
    after: Position | None
    window: TimeWindow


class RecordWriter(Protocol):
    def header(self) -> bytes: ...

    def rows(self, rows: Sequence[Any]) -> bytes: ...


@cache
def _adapters(record: type[BaseModel]) -> tuple[TypeAdapter[list[Any]], TypeAdapter[Any]]:
    return TypeAdapter(list[record]), TypeAdapter(record)  # type: ignore[valid-type]


class CsvWriter:
    """Rows to CSV through one `io.StringIO` buffer, drained after every chunk."""

    def __init__(self, record: type[BaseModel]) -> None:
        self._fields = tuple(record.model_fields)
        self._values = itemgetter(*self._fields)
        self._records = _adapters(record)[0]
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")

    def header(self) -> bytes:
        self._csv.writerow(self._fields)
        return self._drain()

    def rows(self, rows: Sequence[Any]) -> bytes:
        records = self._records.validate_python(rows, from_attributes=True)
        self._csv.writerows(
            [_cell(value) for value in self._values(values)]
            for values in self._records.dump_python(records, mode="json")
        )
        return self._drain()

    def _drain(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


def _cell(value: Any) -> str:
    """A CSV cell: strings as they are, null empty, anything else as its JSON text."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return to_json(value).decode()


class NdjsonWriter:
    """One JSON object per line, serialised exactly as the JSON API serialises an item."""

    def __init__(self, record: type[BaseModel]) -> None:
        self._records, self._record = _adapters(record)

    def header(self) -> bytes:
        return b""

    def rows(self, rows: Sequence[Any]) -> bytes:
        dump = self._record.dump_json
        records = self._records.validate_python(rows, from_attributes=True)
        return b"".join([dump(record) + b"\n" for record in records])


class Export:
    """One export: its own read session (one transaction), its keyset chunks, its bytes.

    `start()` reads the first chunk; `body` yields the encoded chunks. Its resources are
    released when `body` has yielded its last chunk, or by `close()` (idempotent, from any
    thread once `body` is not running), which also ends the generator: the session is closed,
    which rolls the read transaction back and returns the connection to the pool, and
    `on_close` releases the export's slot. Should an export never be closed, its slot is still
    released when it is garbage-collected."""

    def __init__(
        self,
        session: Session,
        query: ExportQuery,
        writer: RecordWriter,
        *,
        chunk_rows: int,
        on_close: Callable[[], None],
    ) -> None:
        self._session = session
        self._writer = writer
        self._chunks = keyset_chunks(
            session,
            query.statement,
            at=query.at,
            seq=query.seq,
            after=query.after,
            window=query.window,
            size=chunk_rows,
        )
        self._first: Sequence[Row[Any]] | None = None
        self._release = weakref.finalize(self, on_close)
        self._closed = False
        self.rows_sent = 0
        self.finished = False
        self.body: Generator[bytes, None, None] = self._generate()

    def start(self) -> None:
        self._first = next(self._chunks, None)

    def _generate(self) -> Generator[bytes, None, None]:
        data = self._writer.header()
        chunk, self._first = self._first, None
        while chunk is not None:
            data += self._writer.rows(chunk)
            self.rows_sent += len(chunk)
            yield data
            data = b""
            chunk = next(self._chunks, None)
        self.finished = True
        # Before the server sends the end of the body: a client that reads the whole export
        # and asks again at once finds the connection and the slot free.
        self._release_resources()
        if data:
            yield data

    def close(self) -> None:
        """End the export: its generator, then its resources (idempotent)."""
        try:
            self.body.close()
        finally:
            self._release_resources()

    def _release_resources(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._chunks.close()
            self._session.close()
        except Exception:
            logger.exception("closing an export failed")
        finally:
            self._release()


class ExportResponse(StreamingResponse):
    """Streams an `Export` and closes it when the response ends, however it ends."""

    def __init__(self, export: Export, media_type: str, filename: str) -> None:
        super().__init__(
            export.body,
            media_type=media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Vary": "Accept",
                # nginx (deploy/nginx.conf) streams it rather than buffering it to disk.
                "X-Accel-Buffering": "no",
            },
        )
        self.export = export
        self.filename = filename

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnect:
            pass  # told below, as when Starlette cancels the stream on a disconnect
        except Exception:
            # The status line is long gone: the server aborts the transfer, so the client sees
            # an incomplete body rather than a short export that looks whole.
            logger.exception("export %s failed mid-stream", self.filename)
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.export.close)
        if not self.export.finished:
            logger.info(
                "export %s: the client went away after %d rows; its connection is released",
                self.filename,
                self.export.rows_sent,
            )


def export_response(request: Request, media_type: str, query: ExportQuery) -> Response:
    """Start streaming `query` as `media_type` (CSV or NDJSON). Runs in a worker thread: it
    reads the first chunk before the response starts."""
    state = request.app.state
    slots: threading.BoundedSemaphore = state.export_slots
    if not slots.acquire(blocking=False):
        raise ServiceOverloadedProblem(
            f"{state.settings.export_max_concurrent} exports are already streaming from this "
            "process; retry shortly.",
            headers={"Retry-After": str(EXPORT_RETRY_AFTER_SECONDS)},
        )
    try:
        export = Export(
            state.database.session(write=False),
            query,
            CsvWriter(query.record) if media_type == CSV_MEDIA_TYPE else NdjsonWriter(query.record),
            chunk_rows=state.settings.export_chunk_rows,
            on_close=slots.release,
        )
    except BaseException:
        slots.release()
        raise
    try:
        export.start()
    except BaseException:
        export.close()
        raise
    return ExportResponse(export, media_type, f"{query.name}.{_EXTENSIONS[media_type]}")


def history_responses(name: str, record: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI of a history endpoint's exports: the CSV and NDJSON content of its 200 (beside
    the JSON page FastAPI documents), their headers, and the 406."""
    examples = _examples(record)
    csv_writer, ndjson_writer = CsvWriter(record), NdjsonWriter(record)
    csv_example = (csv_writer.header() + csv_writer.rows(examples)).decode()
    ndjson_example = ndjson_writer.rows(examples).decode()
    return {
        200: {
            "description": "A page of records (`application/json`, the default); or, when "
            "`Accept` prefers it, every record matching the filters from `cursor` on, newest "
            "first, streamed as CSV (`text/csv`, a header row) or NDJSON "
            "(`application/x-ndjson`, one JSON record per line); `limit` does not apply",
            "headers": {
                "Content-Disposition": {
                    "description": "Exports only: the file name to save it as.",
                    "schema": {"type": "string", "example": f'attachment; filename="{name}.csv"'},
                },
                "Vary": {
                    "description": "`Accept`: the representation depends on it.",
                    "schema": {"type": "string", "example": "Accept"},
                },
            },
            "content": {
                "text/csv": {
                    "schema": {"type": "string", "title": f"{record.__name__} CSV"},
                    "example": csv_example,
                },
                "application/x-ndjson": {
                    "schema": {"type": "string", "title": f"{record.__name__} NDJSON"},
                    "example": ndjson_example,
                },
            },
        },
        **problem_responses(406),
    }


def _examples(record: type[BaseModel]) -> list[BaseModel]:
    """The record's documented examples (`json_schema_extra`), validated."""
    extra = record.model_config.get("json_schema_extra")
    examples = extra.get("examples", []) if isinstance(extra, dict) else []
    assert isinstance(examples, list)
    return [record.model_validate(example) for example in examples]
