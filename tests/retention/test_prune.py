"""Retention passes: what a pass removes (old rows of each history with a retention), what it
never removes (each job's latest budget record and response, rows an Idempotency-Key's replay
may still name), and what it never changes (statistics, pattern counters, diversity)."""

import random
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.db import Database
from app.core.settings import Settings
from app.main import create_app
from app.retention import service as retention
from tests.api_helpers import apply_patterns, create_pattern, set_budget, trigger_response
from tests.observability.scrape import by_label, scrape, series
from tests.statistics_reference import (
    assert_statistics_equal,
    budget_scan,
    read_records,
    response_scan,
)
from tests.support import ManualClock

PRUNED = "entropy_budget_retention_rows_pruned_total"
OLDEST = "entropy_budget_retention_oldest_row_seconds"

DAY = 86_400
TIMES = {
    "exploration_budget": "recorded_at",
    "entropy_responses": "recorded_at",
    "pattern_entropy_history": "calculated_at",
    "pattern_applications": "applied_at",
}
Tables = dict[str, list[dict[str, Any]]]
NO_DISPATCHER = {"webhooks_dispatch": False}
"""The responses' webhook messages then stay as written (not fanned out, so never pruned): the
outbox's own retention is tests/retention/test_prune_webhooks.py's."""


@pytest.fixture
def client(settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update=NO_DISPATCHER), clock=clock)) as app:
        yield app


def write_two_periods(client: TestClient, clock: ManualClock) -> datetime:
    """Records of every history, then the same three days later; returns the time between.
    job-b writes only in the first period (its latest record and response are old)."""
    for pattern in ("p-1", "p-2"):
        create_pattern(client, pattern)
    for _ in range(2):
        for budget in (0.2, 0.3, 0.4):
            set_budget(client, "job-a", budget)
        set_budget(client, "job-b", 0.25)
        trigger_response(client, "job-a", revisit_quarantine=False)
        trigger_response(client, "job-b", 0.05, revisit_quarantine=False)
        apply_patterns(client, {"p-1": 3, "p-2": 1})
        assert client.post("/v1/pattern-entropy/snapshots", json={}).status_code == 201
        clock.advance(1)
    between = clock.now
    clock.advance(3 * DAY)
    for budget in (0.35, 0.45):
        set_budget(client, "job-a", budget)
    trigger_response(client, "job-a", revisit_quarantine=False)
    apply_patterns(client, {"p-2": 2})
    assert client.post("/v1/pattern-entropy/snapshots", json={}).status_code == 201
    return between


def tables(engine: Engine) -> Tables:
    with engine.connect() as connection:
        return {table: read_records(connection, table, TIMES[table]) for table in TIMES}


def latest_of_each_job(rows: list[dict[str, Any]]) -> set[str]:
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        mine = latest.get(row["job_hash"])
        if mine is None or (row["recorded_at"], row["seq"]) > (mine["recorded_at"], mine["seq"]):
            latest[row["job_hash"]] = row
    return {row["id"] for row in latest.values()}


def kept_after(before: Tables, between: datetime) -> Tables:
    """The rows a pass pruning everything up to `between` keeps: the newer ones, and each
    job's latest budget record and response."""
    kept = {}
    for table, rows in before.items():
        protected = (
            latest_of_each_job(rows)
            if table in {"exploration_budget", "entropy_responses"}
            else set()
        )
        kept[table] = [r for r in rows if r[TIMES[table]] > between or r["id"] in protected]
    return kept


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {row["id"] for row in rows}


def prune(engine: Engine, settings: Settings, clock: ManualClock, **retention_settings: Any) -> Any:
    configured = settings.model_copy(update=retention_settings)
    return {p.table: p.rows for p in retention.prune(Database(engine), configured, clock)}


def test_a_pass_removes_old_rows_but_each_jobs_latest_record_and_response(
    client: TestClient, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    between = write_two_periods(client, clock)
    before = tables(engine)

    removed = prune(engine, settings, clock, retention_days=2)

    after = tables(engine)
    kept = kept_after(before, between)
    for table, rows in before.items():
        assert ids(after[table]) == ids(kept[table]), table
        assert removed[table] == len(rows) - len(kept[table]) > 0, table
    # job-b wrote nothing recent: its latest record and response are all that is left of it.
    assert sum(r["job_hash"] == "job-b" for r in after["exploration_budget"]) == 1
    assert sum(r["job_hash"] == "job-b" for r in after["entropy_responses"]) == 1


def test_statistics_current_values_and_cooldowns_outlive_the_pruned_records(
    client: TestClient, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    write_two_periods(client, clock)
    before = tables(engine)
    reads = [
        "/v1/budget?job_hash=job-b",
        "/v1/jobs",
        "/v1/entropy-responses/latest?job_hash=job-b",
        "/v1/entropy-responses/check?job_hash=job-b&cooldown_seconds=604800",
        "/v1/pattern-entropy",
        "/v1/patterns",
    ]
    answers = {path: client.get(path).json() for path in reads}

    prune(engine, settings, clock, retention_days=2)

    assert len(tables(engine)["exploration_budget"]) < len(before["exploration_budget"])
    for job_hash in ("job-a", "job-b", None):
        params = {"job_hash": job_hash or ""}
        budget = client.get("/v1/budget/statistics", params=params).json()
        assert_statistics_equal(budget, budget_scan(before["exploration_budget"], job_hash))
        responses = client.get("/v1/entropy-responses/statistics", params=params).json()
        assert_statistics_equal(responses, response_scan(before["entropy_responses"], job_hash))
    assert {path: client.get(path).json() for path in reads} == answers
    assert answers[reads[3]]["status"] == "cooldown"


@pytest.mark.parametrize(
    ("retention_settings", "pruned"),
    [
        ({}, set()),
        ({"retention_days_budget": 2}, {"exploration_budget"}),
        ({"retention_days_responses": 2}, {"entropy_responses"}),
        ({"retention_days_snapshots": 2}, {"pattern_entropy_history"}),
        ({"retention_days_applications": 2}, {"pattern_applications"}),
        (
            {"retention_days": 2, "retention_days_snapshots": 5},
            set(TIMES) - {"pattern_entropy_history"},
        ),
        ({"retention_days": 5, "retention_days_applications": 1}, {"pattern_applications"}),
    ],
)
def test_each_history_is_kept_as_long_as_its_own_setting_says(
    *,
    client: TestClient,
    clock: ManualClock,
    engine: Engine,
    settings: Settings,
    retention_settings: dict[str, float],
    pruned: set[str],
) -> None:
    write_two_periods(client, clock)
    before = {table: len(rows) for table, rows in tables(engine).items()}
    removed = prune(engine, settings, clock, **retention_settings)
    after = {table: len(rows) for table, rows in tables(engine).items()}
    assert {table for table in TIMES if after[table] < before[table]} == pruned
    assert {table for table, rows in removed.items() if rows} == pruned


def test_rows_an_idempotent_replay_may_name_stay_for_the_keys_lifetime(
    client: TestClient, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    """RETENTION_DAYS=0 still keeps what is younger than IDEMPOTENCY_TTL_SECONDS: a replayed
    answer's Location must resolve while its key lives."""
    first = client.post(
        "/v1/budget",
        json={"job_hash": "job-a", "budget_value": 0.2, "adjustment_type": "manual"},
        headers={"Idempotency-Key": "k-1"},
    )
    clock.advance(3600)
    set_budget(client, "job-a", 0.3)

    assert prune(engine, settings, clock, retention_days=0)["exploration_budget"] == 0
    replay = client.post(
        "/v1/budget",
        json={"job_hash": "job-a", "budget_value": 0.2, "adjustment_type": "manual"},
        headers={"Idempotency-Key": "k-1"},
    )
    assert replay.headers["idempotent-replayed"] == "true"
    assert client.get(replay.headers["location"]).json() == first.json()

    clock.advance(settings.idempotency_ttl_seconds)
    assert prune(engine, settings, clock, retention_days=0)["exploration_budget"] == 1
    assert client.get(first.headers["location"]).status_code == 404


def test_a_pass_deletes_in_batches_of_at_most_the_batch_size(
    client: TestClient, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    rng = random.Random(5)
    for _ in range(40):
        set_budget(client, rng.choice(["job-a", "job-b", "job-c"]), rng.random())
        clock.advance(rng.choice([0, 1]))
    clock.advance(3 * DAY)
    batches: list[tuple[str, int]] = []
    configured = settings.model_copy(
        update={"retention_days": 1, "retention_batch_size": 3, "retention_batch_pause_seconds": 0}
    )

    report = retention.prune(
        Database(engine), configured, clock, on_batch=lambda t, n: batches.append((t, n))
    )

    budget_batches = [rows for table, rows in batches if table == "exploration_budget"]
    assert max(budget_batches) == 3
    assert sum(budget_batches) == 40 - 3  # all but each job's latest
    assert len(budget_batches) >= (40 - 3) / 3
    assert {p.table: p.rows for p in report}["exploration_budget"] == 40 - 3
    assert len(tables(engine)["exploration_budget"]) == 3


def test_a_dry_run_counts_what_a_pass_would_remove_and_removes_nothing(
    client: TestClient, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    write_two_periods(client, clock)
    before = tables(engine)
    configured = settings.model_copy(update={"retention_days": 2})

    counted = retention.prune(Database(engine), configured, clock, dry_run=True)

    assert tables(engine) == before
    removed = retention.prune(Database(engine), configured, clock)
    assert [(p.table, p.rows) for p in counted] == [(p.table, p.rows) for p in removed]
    assert all(p.rows > 0 for p in removed if p.table in TIMES)


def test_pruned_applications_leave_pattern_counters_and_diversity_alone(
    client: TestClient, clock: ManualClock, engine: Engine, settings: Settings
) -> None:
    write_two_periods(client, clock)
    old = min(tables(engine)["pattern_applications"], key=lambda row: row["seq"])
    patterns = client.get("/v1/patterns").json()
    diversity = client.get("/v1/pattern-entropy").json()

    prune(engine, settings, clock, retention_days_applications=2)

    assert client.get(f"/v1/pattern-applications/{old['id']}").status_code == 404
    outcome = client.patch(
        f"/v1/pattern-applications/{old['id']}", json={"pattern_led_to_success": False}
    )
    assert outcome.status_code == 404
    assert client.get("/v1/patterns").json() == patterns
    assert client.get("/v1/pattern-entropy").json() == diversity


def test_the_service_prunes_by_itself_and_reports_it_in_the_metrics(
    client: TestClient, clock: ManualClock, engine: Engine, database_url: str
) -> None:
    """Each worker runs a pass at start and every RETENTION_INTERVAL_SECONDS; /metrics counts
    the rows removed per table and the age of each history's oldest row."""
    between = write_two_periods(client, clock)
    before = tables(engine)
    kept = kept_after(before, between)
    settings = Settings(database_url=database_url, retention_days=2, **NO_DISPATCHER)
    with TestClient(create_app(settings, clock=clock)) as pruning:
        deadline = time.monotonic() + 30
        samples = scrape(pruning)
        while len(series(samples, OLDEST)) < len(TIMES) and time.monotonic() < deadline:
            time.sleep(0.1)  # the first pass is over once it has set every oldest-row gauge
            samples = scrape(pruning)
    assert by_label(samples, PRUNED, "table") == {
        table: len(rows) - len(kept[table]) for table, rows in before.items()
    } | {"webhook_messages": 0, "webhook_deliveries": 0}
    oldest = by_label(samples, OLDEST, "table")
    first_response = min(r["recorded_at"] for r in before["entropy_responses"])
    # Its message stays: without a dispatcher it was never fanned out.
    assert oldest.pop("webhook_messages") == (clock.now - first_response).total_seconds()
    assert oldest == {
        table: (clock.now - min(r[TIMES[table]] for r in rows)).total_seconds()
        for table, rows in kept.items()
    }
