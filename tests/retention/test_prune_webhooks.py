"""Retention of the webhook outbox: a pass removes the old messages whose every delivery is
final (delivered or failed), their deliveries with them; a message with a delivery still
pending, one not fanned out yet, the newest one and recent ones stay.

The histories are written as the service writes them: responses put messages in the outbox, a
real dispatcher fans them out and attempts them against real receivers on 127.0.0.1 (which
verify no signatures: the app's clock is a manual one, days away from the real time)."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core.db import Database
from app.core.settings import Settings
from app.main import create_app
from app.retention import service as retention
from app.webhooks import service as webhooks
from tests.api_helpers import assert_problem
from tests.cli.helpers import invoke_cli, ok
from tests.observability.scrape import by_label, scrape
from tests.support import TEST_DATABASE, ManualClock, eventually, lock_waits
from tests.webhooks.conftest import FAST, attempts, create_endpoint, trigger_response
from tests.webhooks.receiver import Delivery, Reply, always, receiver

PRUNED = "entropy_budget_retention_rows_pruned_total"
OLDEST = "entropy_budget_retention_oldest_row_seconds"
WEBHOOK_TABLES = {"webhook_messages", "webhook_deliveries"}
DAY = 86_400
EVENTS = ["entropy_response.triggered"]
KEPT_JOBS = {"job-stuck", "job-unfanned", "job-last", "job-recent"}
PRUNED_JOBS = {"job-delivered", "job-failed"}


@dataclass(frozen=True)
class Outbox:
    """What `write_outbox` left: two endpoints, and each job's message id."""

    acknowledging: str
    """Answers 204 to every message."""
    routed: str
    """Answers 500 to job-stuck's message (pending: its next retry is 30 days away) and 410 to
    job-failed's (failed; the endpoint is disabled); 204 to the others before that."""
    messages: dict[str, str]


def routed_by_job(delivery: Delivery, _count: int) -> Reply:
    job = json.loads(delivery.body)["data"]["job_hash"]
    return Reply({"job-stuck": 500, "job-failed": 410}.get(job, 204))


@contextmanager
def app(settings: Settings, clock: ManualClock, *, dispatch: bool) -> Iterator[TestClient]:
    """The app on `clock`, delivering quickly (or, without `dispatch`, only writing the
    outbox); retries after a first immediate one are 30 days away."""
    configured = settings.model_copy(
        update=FAST | {"webhooks_retry_schedule": "0s,30d", "webhooks_dispatch": dispatch}
    )
    with TestClient(create_app(configured, clock=clock)) as client:
        yield client


def statuses(client: TestClient, endpoint_id: str) -> dict[str, tuple[str, int]]:
    """The endpoint's attempts log: (status, attempts) by message id."""
    return {a["message_id"]: (a["status"], a["attempts"]) for a in attempts(client, endpoint_id)}


def messages(engine: Engine) -> dict[str, str]:
    """The stored messages' ids, by the job of the response each reports."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, body FROM webhook_messages")).all()
    return {json.loads(body)["data"]["job_hash"]: message_id for message_id, body in rows}


def deliveries(engine: Engine) -> list[tuple[str, str]]:
    """Every stored delivery: (message id, status), sorted."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT message_id, status FROM webhook_deliveries"))
        return sorted((message_id, status) for message_id, status in rows)


def write_outbox(
    settings: Settings, clock: ManualClock, engine: Engine, *, old: datetime, recent: datetime
) -> Outbox:
    """At `old`: job-delivered's message delivered to both endpoints, job-stuck's delivered to
    one and pending to the other, job-failed's delivered to one and failed at the other; then,
    with no dispatcher running, job-unfanned's and job-last's, never fanned out. At `recent`:
    job-recent's, delivered. Job-last's is the newest by sequence, so job-unfanned's is kept
    only for not being fanned out."""
    clock.now = old
    with receiver(always()) as acknowledging, receiver(routed_by_job) as routed:
        with app(settings, clock, dispatch=True) as client:
            ack_id, _ = create_endpoint(client, acknowledging.url, EVENTS)
            routed_id, _ = create_endpoint(client, routed.url, EVENTS)
            for job, routed_status, routed_attempts in [
                ("job-delivered", "delivered", 1),
                ("job-stuck", "pending", 2),
                ("job-failed", "failed", 1),
            ]:
                trigger_response(client, job, revisit_quarantine=False)
                message_id = messages(engine)[job]
                eventually(
                    lambda m=message_id, s=routed_status, n=routed_attempts: (
                        statuses(client, ack_id).get(m) == ("delivered", 1)
                        and statuses(client, routed_id).get(m) == (s, n)
                    )
                )
        clock.now = recent
        with app(settings, clock, dispatch=True) as client:
            trigger_response(client, "job-recent", revisit_quarantine=False)
            recent_id = messages(engine)["job-recent"]
            eventually(lambda: statuses(client, ack_id).get(recent_id) == ("delivered", 1))
    clock.now = old
    with app(settings, clock, dispatch=False) as client:
        for job in ("job-unfanned", "job-last"):
            trigger_response(client, job, revisit_quarantine=False)
    clock.now = recent
    return Outbox(ack_id, routed_id, messages(engine))


def prune(engine: Engine, settings: Settings, clock: ManualClock, **days: Any) -> dict[str, int]:
    """One real pass; the rows it removed from each table it prunes."""
    configured = settings.model_copy(update=days)
    return {p.table: p.rows for p in retention.prune(Database(engine), configured, clock)}


@pytest.fixture
def outbox(settings: Settings, clock: ManualClock, engine: Engine) -> Outbox:
    start = clock.now
    return write_outbox(settings, clock, engine, old=start, recent=start + timedelta(days=3))


def test_a_pass_removes_old_finished_messages_with_their_deliveries(
    outbox: Outbox, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    before = deliveries(engine)
    assert set(outbox.messages) == KEPT_JOBS | PRUNED_JOBS

    removed = prune(engine, settings, clock, retention_days_webhooks=2)

    assert set(messages(engine)) == KEPT_JOBS
    kept_ids = {outbox.messages[job] for job in KEPT_JOBS}
    assert deliveries(engine) == [d for d in before if d[0] in kept_ids]
    # job-stuck's delivery that was delivered stays with the pending one: a message goes whole.
    stuck = outbox.messages["job-stuck"]
    assert [status for message_id, status in deliveries(engine) if message_id == stuck] == [
        "delivered",
        "pending",
    ]
    assert removed == {"webhook_messages": 2, "webhook_deliveries": 4}
    assert prune(engine, settings, clock, retention_days_webhooks=2) == dict.fromkeys(
        WEBHOOK_TABLES, 0
    )


def test_the_attempts_log_shows_what_is_retained_and_a_pruned_message_is_unknown(
    outbox: Outbox, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    pruned = outbox.messages["job-delivered"]
    with app(settings, clock, dispatch=False) as client:
        assert pruned in statuses(client, outbox.acknowledging)
        prune(engine, settings, clock, retention_days_webhooks=2)

        assert set(statuses(client, outbox.acknowledging)) == {
            outbox.messages[job] for job in ("job-stuck", "job-recent")
        }
        retry = f"/v1/webhooks/{outbox.acknowledging}/attempts/{{}}/retry"
        gone = assert_problem(client.post(retry.format(pruned)), 404)
        unknown = assert_problem(client.post(retry.format("msg_" + "0" * 32)), 404)
        assert gone["type"] == unknown["type"]
        assert pruned in gone["detail"]
        kept = client.post(retry.format(outbox.messages["job-recent"]))
        assert kept.status_code == 202, kept.text


def test_a_dry_run_counts_the_messages_and_deliveries_and_removes_nothing(
    outbox: Outbox, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    configured = settings.model_copy(update={"retention_days_webhooks": 2})
    before = (messages(engine), deliveries(engine))

    counted = retention.prune(Database(engine), configured, clock, dry_run=True)

    assert (messages(engine), deliveries(engine)) == before
    assert {p.table: p.rows for p in counted} == {"webhook_messages": 2, "webhook_deliveries": 4}
    removed = retention.prune(Database(engine), configured, clock)
    assert [(p.table, p.rows) for p in removed] == [(p.table, p.rows) for p in counted]


@pytest.mark.parametrize(
    ("days", "pruned"),
    [
        ({}, False),
        ({"retention_days_webhooks": 2}, True),
        ({"retention_days": 2}, True),
        ({"retention_days": 2, "retention_days_webhooks": 5}, False),
        ({"retention_days": 5, "retention_days_webhooks": 2}, True),
        ({"retention_days_budget": 2}, False),
    ],
)
def test_the_outbox_is_kept_as_long_as_its_setting_or_else_retention_days_says(
    *,
    outbox: Outbox,
    clock: ManualClock,
    engine: Engine,
    settings: Settings,
    days: dict[str, float],
    pruned: bool,
) -> None:
    """RETENTION_DAYS_WEBHOOKS, absent, falls back to RETENTION_DAYS; absent both, forever."""
    removed = prune(engine, settings, clock, **days)
    assert set(messages(engine)) == (KEPT_JOBS if pruned else set(outbox.messages))
    assert removed.get("webhook_messages", 0) == (2 if pruned else 0)
    assert removed.get("webhook_deliveries", 0) == (4 if pruned else 0)


@pytest.mark.skipif(TEST_DATABASE != "postgresql", reason="SQLite writes one at a time")
def test_a_redelivery_asked_for_while_a_batch_is_deleting_keeps_its_message(
    outbox: Outbox, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    """The batch read job-delivered's message as finished, then waits for its deliveries'
    locks, which an uncommitted redelivery holds: once it commits, the message has a pending
    delivery again and stays, whole; the batch still removes job-failed's."""
    redelivered = outbox.messages["job-delivered"]
    removed: dict[str, int] = {}
    with Database(engine).session(write=True) as session:
        webhooks.retry_attempt(session, clock, outbox.acknowledging, redelivered)
        pruning = threading.Thread(
            target=lambda: removed.update(prune(engine, settings, clock, retention_days_webhooks=2))
        )
        pruning.start()
        eventually(lambda: lock_waits(engine) == 1)
        session.commit()
    pruning.join()

    assert set(messages(engine)) == KEPT_JOBS | {"job-delivered"}
    assert [status for message_id, status in deliveries(engine) if message_id == redelivered] == [
        "delivered",
        "pending",
    ]
    assert removed == {"webhook_messages": 1, "webhook_deliveries": 2}


def test_the_newest_message_stays_so_an_endpoint_still_gets_the_next_one(
    settings: Settings, clock: ManualClock, engine: Engine
) -> None:
    """An endpoint gets the messages above the outbox's last sequence when it was created. Were
    the newest message pruned, SQLite would hand its rowid to the next message, which that
    endpoint would then never get."""
    with receiver(always()) as early, receiver(always()) as late:
        with app(settings, clock, dispatch=True) as client:
            early_id, _ = create_endpoint(client, early.url, EVENTS)
            for job in ("job-1", "job-2"):
                trigger_response(client, job, revisit_quarantine=False)
            early.wait_for(lambda got: len(got) == 2)
            eventually(lambda: {s for s, _ in statuses(client, early_id).values()} == {"delivered"})
            create_endpoint(client, late.url, EVENTS)
        clock.advance(3 * DAY)

        removed = prune(engine, settings, clock, retention_days_webhooks=2)

        assert removed == {"webhook_messages": 1, "webhook_deliveries": 1}
        assert set(messages(engine)) == {"job-2"}
        with app(settings, clock, dispatch=True) as client:
            trigger_response(client, "job-3", revisit_quarantine=False)
            [got] = late.wait_for(lambda got: len(got) == 1)
    assert json.loads(got.body)["data"]["job_hash"] == "job-3"


def test_the_service_prunes_the_outbox_by_itself_and_reports_it_in_the_metrics(
    outbox: Outbox, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    """Deliveries are counted under their own table; the oldest-row age is the messages' (a
    delivery is made after its message)."""
    configured = settings.model_copy(update={"retention_days_webhooks": 2})
    with app(configured, clock, dispatch=False) as client:
        eventually(
            lambda: "webhook_messages" in by_label(scrape(client), OLDEST, "table"),
            30,
            "a retention pass reported",
        )
        samples = scrape(client)
    assert set(messages(engine)) == KEPT_JOBS
    pruned = by_label(samples, PRUNED, "table")
    assert {table: pruned[table] for table in WEBHOOK_TABLES} == {
        "webhook_messages": 2,
        "webhook_deliveries": 4,
    }
    oldest = by_label(samples, OLDEST, "table")
    assert oldest["webhook_messages"] == 3 * DAY  # job-stuck's and the unfanned ones
    assert "webhook_deliveries" not in oldest


def test_prune_prints_the_outbox_counts_and_a_dry_run_removes_nothing(
    settings: Settings, clock: ManualClock, engine: Engine, database_url: str
) -> None:
    """The command runs on the real clock: the history is written 40 days ago and now."""
    now = datetime.now(UTC)
    write_outbox(settings, clock, engine, old=now - timedelta(days=40), recent=now)
    env = {"DATABASE_URL": database_url, "RETENTION_DAYS": None, "RETENTION_DAYS_WEBHOOKS": "30"}

    counted = ok(invoke_cli("prune", "--dry-run", env=env)).stdout
    assert "webhook_messages: would remove 2 rows older than" in counted
    assert "webhook_deliveries: would remove 4 rows older than" in counted
    assert "exploration_budget: kept forever" in counted
    assert len(messages(engine)) == 6

    removed = ok(invoke_cli("prune", env=env)).stdout
    assert "webhook_messages: removed 2 rows older than" in removed
    assert "webhook_deliveries: removed 4 rows older than" in removed
    assert set(messages(engine)) == KEPT_JOBS
