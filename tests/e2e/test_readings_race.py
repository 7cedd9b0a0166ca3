"""Readings racing across real server processes: 50 low readings of one job at once, 20 of
them retried with the same Idempotency-Key while the first attempt is still in flight."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from app.models import EntropyResponse, IdempotencyKey
from tests.support import check_budget_chain, uvicorn_server

pytestmark = pytest.mark.e2e

READINGS = 50
RETRIED = 20


def test_racing_readings_and_retries_keep_one_chain_and_one_response_per_cooldown(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    keys = [f"reading-{n}" for n in range(READINGS)] + [f"reading-{n}" for n in range(RETRIED)]
    with (
        uvicorn_server(database_url, log_dir, workers=2) as first,
        uvicorn_server(database_url, log_dir, workers=2) as second,
        httpx.Client(timeout=60) as http,
    ):
        servers = [first.base_url, second.base_url]

        def send(position: int) -> httpx.Response:
            return http.post(
                f"{servers[position % 2]}/v1/jobs/raced/entropy-readings",
                json={"entropy": 0.1},
                headers={"Idempotency-Key": keys[position]},
            )

        with ThreadPoolExecutor(max_workers=len(keys)) as pool:
            answers = list(pool.map(send, range(len(keys))))

    assert [answer.status_code for answer in answers] == [201] * len(keys)
    by_key: dict[str, set[str]] = {}
    for key, answer in zip(keys, answers, strict=True):
        by_key.setdefault(key, set()).add(answer.text)
    assert all(len(bodies) == 1 for bodies in by_key.values()), "a retry got another answer"
    replays = [a for a in answers if a.headers.get("idempotent-replayed") == "true"]
    assert len(replays) == RETRIED

    chain = check_budget_chain(engine, "raced")
    adjustments = [r for r in chain if not (r.adjustment_reason or "").startswith("Entropy resp")]
    assert len(adjustments) == READINGS  # no lost update, no duplicate
    with engine.connect() as connection:
        responses = connection.scalar(select(func.count()).select_from(EntropyResponse))
        stored_keys = connection.scalar(select(func.count()).select_from(IdempotencyKey))
    assert responses == 1  # one per cooldown window, however many low readings raced
    assert len(chain) == READINGS + 1  # the response's own boost
    assert stored_keys == READINGS
