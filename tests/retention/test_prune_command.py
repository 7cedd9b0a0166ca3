"""`entropy-budget prune`: one pass now, with the service's settings and DATABASE_URL; it
prints what it removed (or, with --dry-run, would remove) from each history."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api_helpers import row_count, set_budget
from tests.cli.helpers import invoke_cli, ok
from tests.support import ManualClock


def write_old_and_new(client: TestClient, clock: ManualClock) -> None:
    """Five records of one job 40 days ago, two today (the command uses the real clock)."""
    clock.now = datetime.now(UTC) - timedelta(days=40)
    for value in (0.1, 0.2, 0.3, 0.4, 0.45):
        set_budget(client, "job-a", value)
    clock.now = datetime.now(UTC)
    set_budget(client, "job-a", 0.25)
    set_budget(client, "job-b", 0.3)


def test_prune_prints_what_it_removed_and_a_dry_run_removes_nothing(
    client: TestClient, clock: ManualClock, engine: Engine, database_url: str
) -> None:
    write_old_and_new(client, clock)
    env = {"DATABASE_URL": database_url, "RETENTION_DAYS": "30", "RETENTION_DAYS_SNAPSHOTS": None}

    counted = ok(invoke_cli("prune", "--dry-run", env=env)).stdout
    assert "exploration_budget: would remove 5 rows older than" in counted
    assert row_count(engine, "exploration_budget") == 7

    removed = ok(invoke_cli("prune", env=env)).stdout
    assert "exploration_budget: removed 5 rows older than" in removed
    assert "entropy_responses: removed 0 rows" in removed
    assert row_count(engine, "exploration_budget") == 2
    assert "exploration_budget: removed 0 rows" in ok(invoke_cli("prune", env=env)).stdout


def test_prune_names_the_histories_kept_forever(
    client: TestClient, clock: ManualClock, engine: Engine, database_url: str
) -> None:
    write_old_and_new(client, clock)
    env = {"DATABASE_URL": database_url, "RETENTION_DAYS": None, "RETENTION_DAYS_BUDGET": "30"}
    output = ok(invoke_cli("prune", env=env)).stdout
    assert "exploration_budget: removed 5 rows" in output
    for table in (
        "entropy_responses",
        "pattern_entropy_history",
        "pattern_applications",
        "webhook_messages",
        "webhook_deliveries",
    ):
        assert f"{table}: kept forever" in output

    nothing = ok(
        invoke_cli("prune", env={"DATABASE_URL": database_url, "RETENTION_DAYS_BUDGET": None})
    )
    assert "everything is kept" in nothing.stdout


def test_prune_says_when_the_database_is_not_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = invoke_cli("prune", env={"DATABASE_URL": url, "RETENTION_DAYS": "1"})
    assert result.exit_code == 2, result.stdout
    assert "cannot prune" in result.stderr
    assert "entropy-budget migrate" in result.stderr
