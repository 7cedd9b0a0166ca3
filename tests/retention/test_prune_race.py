"""Pruning while real server processes write one job: the statistics stay those of the whole
history, as a scan of every record ever written (none pruned) defines them.

The old history is written first, ten days back, and read whole (the never-pruned reference).
Then two servers of two workers each, all pruning in small batches, take readings of the same
job from 16 clients at once until the pruners are done; every record their answers acknowledge
joins the reference. Then the statistics of the job, of another job and of all jobs equal the scan
of the reference, and every acknowledged record is still there.
"""

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from app.budget.schemas import BudgetUpdate
from app.budget.service import set_budget
from app.core.db import Database
from app.models import ExplorationBudget
from app.responses.schemas import ResponseConfig, TriggerContext
from app.responses.service import trigger_response
from tests.statistics_reference import (
    assert_statistics_equal,
    budget_scan,
    read_records,
    response_scan,
)
from tests.support import ManualClock, uvicorn_server

pytestmark = pytest.mark.e2e

JOB = "raced"
OTHER = "quiet"
OLD_RECORDS = 2000
WRITERS = 16
MIN_READINGS_PER_WRITER = 5
RETRIES = 5
PRUNING = {
    "RETENTION_DAYS": "1",
    "RETENTION_BATCH_SIZE": "5",
    "RETENTION_BATCH_PAUSE_SECONDS": "0.05",
    "RETENTION_INTERVAL_SECONDS": "0.5",
    "POLICY_RESPONSE_COOLDOWN_SECONDS": "0",
}


def write_old_history(engine: Engine) -> None:
    """Budget records of every type and responses, ten days old, through the services."""
    rng = random.Random(11)
    clock = ManualClock(datetime.now(UTC) - timedelta(days=10))
    kinds = ("decay", "boost", "manual", "initial")
    with Database(engine).session(write=True) as session, session.begin():
        for n in range(OLD_RECORDS):
            job = OTHER if n % 5 == 0 else JOB
            update = BudgetUpdate(
                job_hash=job, budget_value=rng.random(), adjustment_type=rng.choice(kinds)
            )
            set_budget(session, clock, update)
            if n % 10 == 0:
                trigger = TriggerContext(
                    job_hash=job, entropy_at_trigger=rng.random(), threshold_used=0.3
                )
                config = ResponseConfig(boost_budget=rng.random() < 0.5, revisit_quarantine=False)
                trigger_response(session, clock, trigger, config)
            clock.advance(rng.choice([0, 0.001, 1]))


def old_rows(engine: Engine) -> int:
    cutoff = datetime.now(UTC) - timedelta(days=1)
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count())
                .select_from(ExplorationBudget)
                .where(ExplorationBudget.recorded_at < cutoff)
            )
            or 0
        )


def acknowledged(answer: httpx.Response) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The budget records and responses a reading's 201 reports."""
    assert answer.status_code == 201, answer.text
    body = answer.json()
    budgets = {body["adjustment"]["id"]: body["adjustment"], body["budget"]["id"]: body["budget"]}
    return list(budgets.values()), [body["response"]] if body["response"] else []


def post_until_answered(
    http: httpx.Client, url: str, body: dict[str, float], headers: dict[str, str]
) -> httpx.Response:
    """A dropped connection (a keep-alive closed as the request left, on a loaded machine) is no
    answer; the same key makes the retry apply the reading at most once."""
    for _ in range(RETRIES):
        try:
            return http.post(url, json=body, headers=headers)
        except httpx.TransportError:
            time.sleep(0.1)
    return http.post(url, json=body, headers=headers)


@pytest.mark.timeout(400)
def test_statistics_stay_whole_while_servers_prune_a_job_they_write(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    write_old_history(engine)
    with engine.connect() as connection:
        budgets = read_records(connection, "exploration_budget")
        responses = read_records(connection, "entropy_responses")
    old_ids = {r["id"] for r in budgets} | {r["id"] for r in responses}
    rng = random.Random(7)

    with (
        uvicorn_server(database_url, log_dir, workers=2, extra_env=PRUNING) as first,
        uvicorn_server(database_url, log_dir, workers=2, extra_env=PRUNING) as second,
        httpx.Client(timeout=60) as http,
    ):
        servers = [first.base_url, second.base_url]
        pruned = threading.Event()

        def write(writer: int) -> list[httpx.Response]:
            """Readings until the pruners are done (and at least a few), each retried with its
            Idempotency-Key when the connection drops unanswered, as an orchestrator does."""
            answers = []
            while not pruned.is_set() or len(answers) < MIN_READINGS_PER_WRITER:
                url = f"{servers[(writer + len(answers)) % 2]}/v1/jobs/{JOB}/entropy-readings"
                key = {"Idempotency-Key": f"writer-{writer}-{len(answers)}"}
                body = {"entropy": rng.random()}
                answers.append(post_until_answered(http, url, body, key))
            return answers

        left_when_writes_began = old_rows(engine)
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            writing = [pool.submit(write, writer) for writer in range(WRITERS)]
            deadline = time.monotonic() + 120
            while old_rows(engine) > 1 and time.monotonic() < deadline:  # OTHER's latest stays
                time.sleep(0.2)
            pruned.set()
            answers = [answer for writer in writing for answer in writer.result()]
        statistics = {
            job: (
                http.get(f"{first.base_url}/v1/budget/statistics", params={"job_hash": job}),
                http.get(
                    f"{second.base_url}/v1/entropy-responses/statistics", params={"job_hash": job}
                ),
            )
            for job in (JOB, OTHER, "")
        }

    # The pruning was under way when the writes began, and finished while they went on.
    assert left_when_writes_began > 1
    assert old_rows(engine) == 1

    for answer in answers:
        new_budgets, new_responses = acknowledged(answer)
        budgets += new_budgets
        responses += new_responses
    assert any(r["id"] not in old_ids for r in responses), "no response ran from a reading"
    with engine.connect() as connection:
        kept = {r["id"]: r for r in read_records(connection, "exploration_budget")}
        kept_responses = {r["id"] for r in read_records(connection, "entropy_responses")}
    new = [r for r in budgets if r["id"] not in old_ids]
    assert {r["id"] for r in new} <= kept.keys(), "an acknowledged record is missing"
    assert {r["id"] for r in responses if r["id"] not in old_ids} <= kept_responses
    for record in new:  # the API's records carry no seq: the stored one orders ties
        record["seq"] = kept[record["id"]]["seq"]
        record["recorded_at"] = datetime.fromisoformat(record["recorded_at"])
    for response in responses:
        if isinstance(response["recorded_at"], str):
            response["recorded_at"] = datetime.fromisoformat(response["recorded_at"])

    for job, (budget_answer, response_answer) in statistics.items():
        assert_statistics_equal(budget_answer.json(), budget_scan(budgets, job or None))
        assert_statistics_equal(response_answer.json(), response_scan(responses, job or None))
