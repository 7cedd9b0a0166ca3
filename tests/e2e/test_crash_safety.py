"""Crash safety: SIGKILL the server and every worker mid-load, restart it, and check that
every reading acknowledged with a 2xx is stored and every job's chain is intact."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from app.models import ExplorationBudget
from tests.support import check_budget_chain, uvicorn_server

pytestmark = pytest.mark.e2e

CLIENTS = 8
JOBS = [f"crash-{n}" for n in range(4)]


def test_every_acknowledged_reading_survives_a_sigkill_mid_load(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    acknowledged: dict[str, str] = {}  # idempotency key -> adjustment id from the 201
    unanswered: list[str] = []  # keys whose request got no answer: fate unknown
    lock = threading.Lock()
    stop = threading.Event()

    with uvicorn_server(database_url, log_dir, workers=2) as server:

        def client(number: int) -> None:
            sent = 0
            with httpx.Client(base_url=server.base_url, timeout=10) as http:
                while not stop.is_set():
                    key = f"client-{number}-{sent}"
                    sent += 1
                    try:
                        answer = http.post(
                            f"/v1/jobs/{JOBS[number % len(JOBS)]}/entropy-readings",
                            json={"entropy": (sent % 10) / 10},
                            headers={"Idempotency-Key": key},
                        )
                    except httpx.TransportError:
                        with lock:
                            unanswered.append(key)
                        return
                    assert answer.status_code == 201, answer.text
                    with lock:
                        acknowledged[key] = answer.json()["adjustment"]["id"]

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            futures = [pool.submit(client, n) for n in range(CLIENTS)]
            time.sleep(2.0)
            server.crash()
            stop.set()
            for future in futures:
                future.result()

    assert len(acknowledged) > 50, "the load did not get going before the crash"
    stored = stored_adjustment_ids(engine)
    missing = set(acknowledged.values()) - stored
    assert not missing, f"{len(missing)} acknowledged readings were lost"
    for job in JOBS:
        check_budget_chain(engine, job)

    # After the restart, retrying the unanswered requests with their keys never duplicates:
    # each either replays (it had committed) or runs now, once.
    with uvicorn_server(database_url, log_dir, workers=2) as server, httpx.Client() as http:
        for key in unanswered:
            number = int(key.split("-")[1])
            retry = http.post(
                f"{server.base_url}/v1/jobs/{JOBS[number % len(JOBS)]}/entropy-readings",
                json={"entropy": (int(key.split("-")[2]) + 1) % 10 / 10},
                headers={"Idempotency-Key": key},
            )
            assert retry.status_code == 201, retry.text
            acknowledged[key] = retry.json()["adjustment"]["id"]
    stored = stored_adjustment_ids(engine)
    assert set(acknowledged.values()) <= stored
    assert len(stored) == len(acknowledged)  # one adjustment per key, none twice
    for job in JOBS:
        check_budget_chain(engine, job)


def stored_adjustment_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(ExplorationBudget.id, ExplorationBudget.adjustment_reason)
        ).all()
    return {id_ for id_, reason in rows if not (reason or "").startswith("Entropy response")}
