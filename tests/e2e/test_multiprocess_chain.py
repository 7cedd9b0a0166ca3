"""Several real uvicorn processes on one database: writes to one job stay one chain."""

from concurrent.futures import ThreadPoolExecutor
from itertools import cycle
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.concurrency.test_serialised_writes import BOOST, assert_unbroken_boost_chain
from tests.support import uvicorn_server

pytestmark = pytest.mark.e2e


def test_adjustments_from_several_server_processes_form_one_chain(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    boosts = 240
    body = {"job_hash": "shared-job", "current_entropy": 0.0, "boost_amount": BOOST, "ceiling": 1.0}
    with (
        uvicorn_server(database_url, log_dir, workers=2) as first,
        uvicorn_server(database_url, log_dir, workers=2) as second,
        httpx.Client(timeout=30) as http,
    ):
        assert http.post(f"{first.base_url}/v1/budget/adjustments", json=body).status_code == 201
        targets = [url for url, _ in zip(cycle([first.base_url, second.base_url]), range(boosts))]

        def post(base_url: str) -> int:
            return http.post(f"{base_url}/v1/budget/adjustments", json=body).status_code

        with ThreadPoolExecutor(max_workers=24) as pool:
            statuses = list(pool.map(post, targets))

    assert statuses == [201] * boosts
    assert_unbroken_boost_chain(engine, "shared-job", boosts)
