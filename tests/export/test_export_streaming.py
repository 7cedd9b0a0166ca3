"""How an export streams: one snapshot, its own connection held only while it streams and
released however it ends (completed, client gone mid-stream, failed), and a bounded number of
exports at once. The last three run the app under a real uvicorn in a thread of this process,
so the test can watch the app's connection pool."""

import logging
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from app.budget.schemas import BudgetRecord
from app.budget.service import BUDGET_HISTORY
from app.core import export as export_module
from app.core.export import CsvWriter, Export
from app.core.pagination import TimeWindow
from app.core.settings import Settings
from app.main import create_app
from tests.api_helpers import set_budget
from tests.export.helpers import insert_budget_rows, serve_in_thread
from tests.export.test_export_content import csv_rows
from tests.support import ManualClock, eventually

HISTORY = "/v1/budget/history"
CSV = {"accept": "text/csv"}
BIG_ROWS = 2000
"""With 5,000-character reasons: a 10 MB export, more than twice what the socket buffers hold
for a client with a small receive buffer (`http_client`), so when it stops reading the export is
suspended mid-stream."""


def test_an_export_is_one_snapshot_however_long_it_streams(
    client: TestClient, clock: ManualClock
) -> None:
    start = clock.now
    for _ in range(12):
        clock.advance(1)
        set_budget(client, "job-a", 0.2)
    app: Any = client.app
    export = Export(
        app.state.database.session(write=False),
        BUDGET_HISTORY.export({"job_hash": None}, None, TimeWindow(None, None)),
        CsvWriter(BudgetRecord),
        chunk_rows=3,
        on_close=lambda: None,
    )
    export.start()
    streamed = next(export.body)  # the header and the 3 newest records

    # Written while the export streams, and older than every record it has yet to send: a
    # chunked export without a snapshot would pick it up in its last chunk.
    clock.now = start
    set_budget(client, "job-b", 0.3)
    streamed += b"".join(export.body)
    export.close()

    rows = csv_rows(streamed.decode())
    assert len(rows) == 1 + 12
    assert {row[1] for row in rows[1:]} == {"job-a"}
    fresh = csv_rows(client.get(HISTORY, headers=CSV).text)
    assert len(fresh) == 1 + 13
    assert fresh[-1][1] == "job-b"


@pytest.fixture
def big_history(engine: Engine) -> int:
    insert_budget_rows(engine, BIG_ROWS, reason_length=5_000, batch=500)
    return BIG_ROWS


@pytest.fixture
def one_export_app(database_url: str) -> FastAPI:
    return create_app(
        Settings(database_url=database_url, export_chunk_rows=100, export_max_concurrent=1)
    )


@pytest.fixture
def served(one_export_app: FastAPI) -> Iterator[str]:
    with serve_in_thread(one_export_app) as server:
        yield server.base_url


def http_client(base_url: str) -> httpx.Client:
    """A client whose sockets keep a 64 KiB receive buffer: the kernel's autotuning (up to
    32 MiB here) would otherwise take in a whole export the client has stopped reading."""
    small_buffer = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)]
    return httpx.Client(
        base_url=base_url,
        timeout=30,
        transport=httpx.HTTPTransport(socket_options=small_buffer),
    )


def checked_out(app: FastAPI) -> int:
    count: int = app.state.database.engine.pool.checkedout()
    return count


def count_csv_records(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    return len(csv_rows(response.text)) - 1


def test_a_client_gone_mid_stream_releases_the_connection_and_the_slot(
    big_history: int,
    one_export_app: FastAPI,
    served: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="app.export")
    with http_client(served) as http:
        with http.stream("GET", HISTORY, headers=CSV) as response:
            assert response.status_code == 200
            # Hold the iterator: dropping it would close the response, and so the connection.
            chunks = response.iter_raw()
            assert next(chunks).startswith(b"id,job_hash,")
            # Mid-stream: the export's read transaction holds one connection...
            assert checked_out(one_export_app) == 1
            # ...and the one export slot of this app.
            busy = http.get(HISTORY, headers=CSV)
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "5"
            assert busy.json()["type"] == "urn:entropy-budget:problem:overloaded"
            # The JSON pages do not need a slot.
            assert http.get(HISTORY).status_code == 200
            assert next(chunks)  # still streaming
        # Leaving the block without reading on closes the connection to the server.

        eventually(lambda: checked_out(one_export_app) == 0, what="the connection's release")
        eventually(lambda: "the client went away after" in caplog.text, what="the log line")
        assert count_csv_records(http.get(HISTORY, headers=CSV)) == big_history
        # That whole export's connection goes back to the pool once its last chunk is sent,
        # which may be just after the client has read it.
        eventually(lambda: checked_out(one_export_app) == 0, what="the full export's release")


def test_a_completed_export_releases_the_connection_and_the_slot(
    one_export_app: FastAPI, served: str, engine: Engine
) -> None:
    insert_budget_rows(engine, 250)
    with http_client(served) as http:
        for _ in range(3):  # one slot: each export must have given it back
            assert count_csv_records(http.get(HISTORY, headers=CSV)) == 250
            assert checked_out(one_export_app) == 0
            lines = http.get(HISTORY, headers={"accept": "application/x-ndjson"}).text
            assert lines.count("\n") == 250


def test_a_failure_mid_stream_aborts_the_transfer_and_releases_everything(
    big_history: int,
    one_export_app: FastAPI,
    served: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    rows = CsvWriter.rows

    def fail_on_the_third_chunk(self: CsvWriter, chunk: Sequence[Any]) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the database went away")
        return rows(self, chunk)

    monkeypatch.setattr(export_module.CsvWriter, "rows", fail_on_the_third_chunk)
    with http_client(served) as http:
        with pytest.raises(httpx.RemoteProtocolError):  # never a short file that looks whole
            http.get(HISTORY, headers=CSV)

        eventually(lambda: checked_out(one_export_app) == 0, what="the connection's release")
        assert count_csv_records(http.get(HISTORY, headers=CSV)) == big_history


def test_a_database_failure_before_the_first_chunk_is_a_503_and_frees_the_slot(
    one_export_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT ...", {}, ConnectionRefusedError("database down"))

    with TestClient(one_export_app) as client:
        with monkeypatch.context() as patch:
            patch.setattr(Export, "start", unavailable)
            failed = client.get(HISTORY, headers=CSV)
        assert failed.status_code == 503
        assert failed.headers["content-type"] == "application/problem+json"
        assert failed.headers["retry-after"] == "2"

        assert client.get(HISTORY, headers=CSV).status_code == 200  # the one slot is free
        assert checked_out(one_export_app) == 0
