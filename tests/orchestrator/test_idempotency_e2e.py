"""Idempotency-Key across real server processes: two uvicorn servers of two workers each."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.orchestrator.helpers import KEY_HEADER, count_rows, readings_url
from tests.support import Server, uvicorn_server

pytestmark = pytest.mark.e2e

DUPLICATES = 30


@contextmanager
def two_servers(database_url: str, log_dir: Path) -> Iterator[list[Server]]:
    """Two servers of two workers each on one database, started side by side."""
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=2) as starter:
        started = [
            starter.submit(stack.enter_context, uvicorn_server(database_url, log_dir, workers=2))
            for _ in range(2)
        ]
        yield [future.result() for future in started]


def test_thirty_concurrent_duplicates_across_two_servers_write_once_with_one_answer(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    start = threading.Barrier(DUPLICATES)
    headers = {KEY_HEADER: "e2e-reading-1"}

    with two_servers(database_url, log_dir) as servers, httpx.Client(timeout=30) as http:
        targets = [server.base_url for server in servers] * (DUPLICATES // 2)

        def duplicate(base_url: str) -> httpx.Response:
            start.wait()
            return http.post(f"{base_url}{readings_url()}", json={"entropy": 0.5}, headers=headers)

        with ThreadPoolExecutor(max_workers=DUPLICATES) as pool:
            responses = list(pool.map(duplicate, targets))

    assert [response.status_code for response in responses] == [201] * DUPLICATES
    assert len({response.content for response in responses}) == 1
    replayed = [response.headers.get("idempotent-replayed") for response in responses]
    assert replayed.count("true") == DUPLICATES - 1
    assert count_rows(engine, "exploration_budget") == 1
    assert count_rows(engine, "idempotency_keys") == 1
