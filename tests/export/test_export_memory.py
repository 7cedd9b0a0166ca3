"""A real uvicorn process streams 200,000 budget records (about 50 MB of CSV, 80 MB of NDJSON)
while its resident memory is sampled: it must grow by far less than the export's size.
(benchmarks/export_memory.py does the same with 1,000,000 records and reports the numbers.)"""

import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.export.helpers import START, RssSampler, insert_budget_rows, rss_bytes
from tests.support import uvicorn_server

pytestmark = pytest.mark.e2e

ROWS = 200_000
REASON_LENGTH = 150
MB = 1024 * 1024
MAX_GROWTH = 30 * MB
MIN_SIZE = 40 * MB
HISTORY = "/v1/budget/history"


@pytest.mark.timeout(180)
def test_exports_stream_in_constant_memory(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    began = time.monotonic()
    insert_budget_rows(engine, ROWS, reason_length=REASON_LENGTH)
    with (
        uvicorn_server(database_url, log_dir) as server,
        httpx.Client(base_url=server.base_url, timeout=60) as http,
    ):
        pid = server.process.pid
        # Warm-up: the oldest few thousand records (every code path, cache and the connection).
        warm = http.get(
            HISTORY,
            params={"until": (START + timedelta(microseconds=17 * 2000)).isoformat()},
            headers={"accept": "text/csv"},
        )
        assert warm.status_code == 200
        assert warm.text.count("\r\n") == 1 + 6000

        for accept, lines in (("text/csv", ROWS + 1), ("application/x-ndjson", ROWS)):
            baseline = rss_bytes(pid)
            size = newlines = 0
            with (
                RssSampler(pid) as rss,
                http.stream("GET", HISTORY, headers={"accept": accept}) as response,
            ):
                assert response.status_code == 200
                for chunk in response.iter_raw():
                    size += len(chunk)
                    newlines += chunk.count(b"\n")
            growth = rss.peak - baseline
            print(
                f"{accept}: {size / MB:.1f} MB, {newlines} lines; RSS {baseline / MB:.1f} MB, "
                f"peak +{growth / MB:.1f} MB over {len(rss.samples)} samples"
            )

            assert newlines == lines, accept
            assert size > MIN_SIZE, accept
            assert growth < MAX_GROWTH, (
                f"{accept}: RSS grew by {growth / MB:.1f} MB over {baseline / MB:.1f} MB "
                f"while streaming {size / MB:.1f} MB"
            )
            assert len(rss.samples) > 10  # sampled all along, not just before and after
    assert time.monotonic() - began < 60
