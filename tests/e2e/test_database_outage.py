"""PostgreSQL goes away under a running service, then comes back: requests get a 503 problem
with Retry-After quickly (never a 500, never a hang), and the service recovers by itself."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from alembic import command

from app.cli import alembic_config
from app.core.settings import Settings
from tests.support import TEST_DATABASE, throwaway_postgres_cluster, uvicorn_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(TEST_DATABASE != "postgresql", reason="a PostgreSQL outage"),
]

BOUND_SECONDS = 10.0
"""An answer, whatever it is, must come within this while the database is down."""


def test_outage_answers_503_quickly_and_the_service_recovers(tmp_path: Path) -> None:
    with throwaway_postgres_cluster() as cluster:
        command.upgrade(alembic_config(Settings(database_url=cluster.url)), "head")
        with (
            uvicorn_server(cluster.url, tmp_path, workers=2) as server,
            httpx.Client(base_url=server.base_url, timeout=BOUND_SECONDS + 5) as http,
        ):
            assert reading(http).status_code == 201

            cluster.stop()
            with ThreadPoolExecutor(max_workers=8) as pool:
                outcomes = list(pool.map(lambda _: timed(http), range(16)))
            for elapsed, response in outcomes:
                assert elapsed < BOUND_SECONDS
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert int(response.headers["retry-after"]) > 0
                assert response.json()["status"] == 503
            started = time.monotonic()
            readiness = http.get("/readyz")
            assert time.monotonic() - started < BOUND_SECONDS
            assert readiness.status_code == 503
            assert readiness.headers["content-type"] == "application/problem+json"
            assert http.get("/healthz").status_code == 200  # the process itself is fine

            cluster.start()
            deadline = time.monotonic() + 30
            while reading(http).status_code != 201:
                assert time.monotonic() < deadline, "the service did not recover"
                time.sleep(0.5)
            assert http.get("/v1/budget", params={"job_hash": "outage"}).status_code == 200
            assert http.get("/readyz").status_code == 200


def reading(http: httpx.Client) -> httpx.Response:
    return http.post("/v1/jobs/outage/entropy-readings", json={"entropy": 0.5})


def timed(http: httpx.Client) -> tuple[float, httpx.Response]:
    """A reading or a read, alternately: both paths must fail well."""
    started = time.monotonic()
    response = reading(http) if int(started * 1000) % 2 else http.get("/v1/budget/history")
    return time.monotonic() - started, response
