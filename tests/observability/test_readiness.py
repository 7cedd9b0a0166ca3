"""GET /readyz: 200 only when the database answers and its schema is exactly at the head."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from sqlalchemy import event

from app.core.migrations import alembic_config, head_revisions
from app.core.settings import Settings
from app.main import create_app
from tests.api_helpers import assert_problem
from tests.support import TEST_DATABASE, eventually, free_port, throwaway_database

HEAD = ", ".join(sorted(head_revisions()))


@contextmanager
def app_on(database_url: str, **settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url, **settings))) as client:
        yield client


def assert_not_ready(client: TestClient, detail: str, revision: str | None) -> dict[str, Any]:
    response = client.get("/readyz")
    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "5"
    assert body["type"] == "urn:entropy-budget:problem:not-ready"
    assert body["title"] == "Not ready"
    assert body["detail"] == detail
    assert body["revision"] == revision
    components = client.get("/openapi.json").json()["components"]
    documented = {"$ref": "#/components/schemas/NotReadyProblem", "components": components}
    Draft202012Validator(documented).validate(body)  # as /openapi.json declares it
    return body


def test_ready_on_a_database_at_head(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "revision": HEAD}
    assert HEAD == "0012"  # the shipped migrations; update with the next one


def test_health_needs_no_database(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    with app_on(f"sqlite:///{tmp_path / 'a-directory.db'}") as client:
        assert client.get("/healthz").json() == {"status": "ok"}


def test_not_ready_on_an_empty_database(tmp_path: Path) -> None:
    with throwaway_database(TEST_DATABASE, tmp_path) as url, app_on(url) as client:
        body = assert_not_ready(
            client, f"schema not migrated (no Alembic revision), head is {HEAD}", None
        )
        assert body["head"] == HEAD


def test_not_ready_on_a_database_behind_head(tmp_path: Path) -> None:
    with throwaway_database(TEST_DATABASE, tmp_path) as url:
        command.upgrade(alembic_config(Settings(database_url=url)), "0001")
        with app_on(url) as client:
            assert_not_ready(client, f"schema at 0001, head is {HEAD}", "0001")

            # Once migrated, the running app is ready: every probe reads the revision anew.
            command.upgrade(alembic_config(Settings(database_url=url)), "head")
            assert client.get("/readyz").json() == {"status": "ready", "revision": HEAD}


def test_not_ready_when_postgresql_refuses_connections() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    with app_on(url) as client:
        body = assert_not_ready(client, "database unreachable (OperationalError)", None)
        assert body["head"] == HEAD


def test_not_ready_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    with app_on(f"sqlite:///{tmp_path / 'a-directory.db'}") as client:
        assert_not_ready(client, "database unreachable (OperationalError)", None)


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung database)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_a_database_that_never_answers_is_not_ready_within_the_timeout() -> None:
    with silent_server() as port:
        url = f"postgresql://postgres@127.0.0.1:{port}/hung"
        with app_on(
            url, readiness_timeout_seconds=0.3, database_connect_timeout_seconds=2
        ) as client:
            started = time.monotonic()
            first = client.get("/readyz")
            second = client.get("/readyz")  # shares the check still running
            elapsed = time.monotonic() - started

            for response in (first, second):
                body = assert_problem(response, 503)
                assert body["detail"] == "database unreachable: no answer within 0.3 s"
                assert response.headers["retry-after"] == "5"
            assert elapsed < 1.5
            probe = client.app.state.readiness
            running = probe._running
            assert running is not None
            # One check in flight for both probes; it ends when the connect timeout does.
            eventually(running.done, 10, "the check's end")
            assert running.done()


@pytest.mark.skipif(TEST_DATABASE != "postgresql", reason="PostgreSQL's statement_timeout")
def test_postgresql_readiness_runs_under_a_statement_timeout(database_url: str) -> None:
    seen: list[str] = []
    with app_on(database_url, readiness_timeout_seconds=1.5) as client:
        engine = client.app.state.database.engine

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            assert client.get("/readyz").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert "SET LOCAL statement_timeout = 1500" in seen
