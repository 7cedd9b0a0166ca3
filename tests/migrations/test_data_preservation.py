"""Migrations keep the data of a database that was in use, in both directions, at every step.

The steps come from the revision chain itself, so a new migration is covered as soon as it
exists (and `test_every_revision_has_rows` then asks for its rows in `revision_data.py`). Each
test migrates a fresh database with `alembic.command`, exactly as `entropy-budget migrate`
does, and reads rows back raw (driver values, no ORM and no type processing), so a changed
storage format shows up too.

A migration that deliberately drops a table or turns rows into something else must say so by
extending these tests; they treat any lost or changed row as a bug.
"""

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect, text

from app.cli import migrations_root
from app.core.db import create_db_engine
from app.core.settings import Settings
from tests.migrations.revision_data import ROWS_AT, Rows

Table = dict[Any, dict[str, Any]]
"""A table's rows by key (`id` when the table has one, else its primary key)."""
Snapshot = dict[str, Table]
"""Every table of the database (but alembic_version), read raw."""


def _chain() -> list[tuple[str, str]]:
    """(down_revision, revision) for every migration after the first, base to head."""
    script = ScriptDirectory(str(migrations_root() / "alembic"))
    steps = []
    for revision in script.walk_revisions():
        down = revision.down_revision
        if down is None:
            continue  # base -> first: nothing to preserve (tests/migrations/ round-trips it)
        if not isinstance(down, str):
            raise NotImplementedError(
                f"{revision.revision} merges {down}: teach these tests merges"
            )
        steps.append((down, revision.revision))
    return steps[::-1]


STEPS = _chain()
ALL_REVISIONS = {
    revision.revision
    for revision in ScriptDirectory(str(migrations_root() / "alembic")).walk_revisions()
}


def _check_0002_backfill(before: Snapshot, after: Snapshot) -> None:
    """0002 adds patterns.outcome_count, filled with each pattern's applications whose outcome
    is known (true or false, not null): computed here from the rows, not by the migration's SQL."""
    known: dict[str, int] = {}
    for application in before["pattern_applications"].values():
        if application["pattern_led_to_success"] is not None:
            known[application["pattern_id"]] = known.get(application["pattern_id"], 0) + 1
    outcome_counts = {row["id"]: row["outcome_count"] for row in after["patterns"].values()}
    assert outcome_counts == {
        row["id"]: known.get(row["id"], 0) for row in before["patterns"].values()
    }
    # The rows cover the cases: mixed outcomes, unknown outcomes only, no applications at all.
    assert set(outcome_counts.values()) >= {0, 3}


def _check_0003_backfill(before: Snapshot, after: Snapshot) -> None:
    """0003 adds job_heads: each job's highest job_seq record and newest response, computed
    here from the rows as they were before."""
    expected: dict[str, dict[str, object]] = {}
    for record in before["exploration_budget"].values():
        head = expected.setdefault(record["job_hash"], {"last_response_at": None})
        if record["job_seq"] > head.get("budget_job_seq", 0):  # type: ignore[operator]
            head |= {
                "budget_job_seq": record["job_seq"],
                "budget_value": record["budget_value"],
                "budget_recorded_at": record["recorded_at"],
            }
    for response in before["entropy_responses"].values():
        head = expected.setdefault(
            response["job_hash"],
            {"budget_job_seq": None, "budget_value": None, "budget_recorded_at": None},
        )
        head["last_response_at"] = max(
            filter(None, [head.get("last_response_at"), response["recorded_at"]])
        )
    heads = {row["job_hash"]: row for row in after["job_heads"].values()}
    assert set(heads) == set(expected)
    for job_hash, head in expected.items():
        assert {k: heads[job_hash][k] for k in head} == head, job_hash


def _lock_rows(snapshot: Snapshot) -> set[Any]:
    """Heads with neither a budget tip nor a response: lock rows, which 0005 creates for jobs
    with a policy and no records, and its downgrade deletes (0004 never wrote any)."""
    return {
        key
        for key, head in snapshot["job_heads"].items()
        if head["budget_job_seq"] is None and head["last_response_at"] is None
    }


def _check_0005_backfill(before: Snapshot, after: Snapshot) -> None:
    """0005 gives every job with a policy a head carrying its version (a new lock row for a
    job with no records); every other head has none."""
    versions = {row["job_hash"]: row["version"] for row in before["job_policies"].values()}
    heads = {row["job_hash"]: row for row in after["job_heads"].values()}
    old = {row["job_hash"] for row in before["job_heads"].values()}
    assert set(heads) == old | set(versions)
    assert {job: head["policy_version"] for job, head in heads.items()} == {
        job: versions.get(job) for job in heads
    }
    created = set(versions) - old
    assert created, "the rows should hold a job with a policy and no records"
    assert {(job,) for job in created} == _lock_rows(after) - _lock_rows(before)


def _check_0008_backfill(before: Snapshot, after: Snapshot) -> None:
    """0008 starts every pattern's count of status changes at 0 (none reported yet) and the
    webhook tables empty, or as they were kept through a downgrade and upgrade: never made up."""
    assert {row["id"]: row["status_sequence"] for row in after["patterns"].values()} == {
        row["id"]: 0 for row in before["patterns"].values()
    }
    for table in ("webhook_endpoints", "webhook_messages", "webhook_deliveries"):
        assert after[table] == before.get(table, {}), table


def _check_0009_backfill(before: Snapshot, after: Snapshot) -> None:
    """0009 fills each head's statistics from the job's records, as the scan over them (done
    here, in Python) defines them: counts, extremes and counts by type exactly, each sum (sum +
    compensation) within 1e-12 relative of math.fsum over the job's values."""
    for head in after["job_heads"].values():
        job = head["job_hash"]
        budgets = [r for r in before["exploration_budget"].values() if r["job_hash"] == job]
        values = [r["budget_value"] for r in budgets]
        kinds = [r["adjustment_type"] for r in budgets]
        assert (head["budget_count"], head["budget_min"], head["budget_max"]) == (
            len(values),
            min(values, default=None),
            max(values, default=None),
        ), job
        assert [head[f"budget_{name}_count"] for name in ("initial", "decay", "boost", "floor")] + [
            head["budget_ceiling_count"]
        ] == [
            kinds.count(kind)
            for kind in ("initial", "decay", "boost", "floor_enforced", "ceiling_enforced")
        ], job
        assert head["budget_sum"] + head["budget_sum_compensation"] == pytest.approx(
            math.fsum(values), rel=1e-12, abs=0
        ), job
        responses = [r for r in before["entropy_responses"].values() if r["job_hash"] == job]
        assert (
            head["response_count"],
            head["response_boosts"],
            head["response_revisits"],
        ) == (
            len(responses),
            sum(1 for r in responses if r["budget_boosted"]),
            sum(r["quarantine_revisits"] for r in responses),
        ), job
        assert head["response_entropy_sum"] + head[
            "response_entropy_compensation"
        ] == pytest.approx(math.fsum(r["entropy_at_trigger"] for r in responses), rel=1e-12, abs=0)
    counted = [head["budget_count"] for head in after["job_heads"].values()]
    assert 0 in counted, "the rows should hold a head without budget records"
    assert max(counted) > 1


def _check_0011_backfill(before: Snapshot, after: Snapshot) -> None:
    """0011 counts every job's applications per pattern (computed here from the rows), keeps
    the half-lives unregistered (the service registers and fills them), makes every existing
    snapshot global and all-time (weighted applications = its count) and every existing
    policy measure the global all-time scope."""
    expected: dict[tuple[str, str], int] = {}
    for application in before["pattern_applications"].values():
        if application["job_hash"] is not None:
            key = (application["job_hash"], application["pattern_id"])
            expected[key] = expected.get(key, 0) + 1
    assert expected, "the rows should hold applications recorded with a job"
    assert {
        key: row["application_count"] for key, row in after["job_pattern_counts"].items()
    } == expected
    for table in ("diversity_half_lives", "diversity_weights"):
        assert after[table] == before.get(table, {}), table
    snapshots = after["pattern_entropy_history"].values()
    assert snapshots
    for snapshot in snapshots:
        assert (snapshot["job_hash"], snapshot["half_life_seconds"]) == (None, None)
        assert snapshot["weighted_applications"] == snapshot["total_applications"]
    policies = after["job_policies"].values()
    assert policies
    for policy in policies:
        assert (policy["diversity_scope"], policy["diversity_half_life_seconds"]) == (
            "global",
            None,
        )


AFTER_UPGRADE: dict[str, Callable[[Snapshot, Snapshot], None]] = {
    "0002": _check_0002_backfill,
    "0003": _check_0003_backfill,
    "0005": _check_0005_backfill,
    "0008": _check_0008_backfill,
    "0009": _check_0009_backfill,
    "0011": _check_0011_backfill,
}
"""What a step's upgrade must have made of the rows (backfills), by revision."""

LOCK_ROWS_OF: dict[str, Callable[[Snapshot], set[Any]]] = {"0005": _lock_rows}
"""By revision: the `job_heads` rows the step's upgrade may create (which its AFTER_UPGRADE
checks exactly) and its downgrade deletes."""


def without_lock_rows(
    snapshot: Snapshot, revision: str, *, keep: Snapshot | None = None
) -> Snapshot:
    """The snapshot without the step's lock rows (but those also in `keep`)."""
    if revision not in LOCK_ROWS_OF:
        return snapshot
    dropped = LOCK_ROWS_OF[revision](snapshot) - set((keep or {}).get("job_heads", {}))
    heads = {key: row for key, row in snapshot["job_heads"].items() if key not in dropped}
    return snapshot | {"job_heads": heads}


@pytest.fixture
def connect(throwaway_settings: Settings) -> Iterator[Callable[[], Connection]]:
    """Opens a connection to the test's database (our engine: SQLite pragmas, psycopg 3)."""
    engine = create_db_engine(throwaway_settings, pooled=False)
    yield engine.connect
    engine.dispose()


def fill(connection: Connection, rows: Rows) -> None:
    """Insert rows into the tables as they are now (reflected: this revision's schema)."""
    metadata = MetaData()
    metadata.reflect(connection)
    unknown = set(rows) - set(metadata.tables)
    assert not unknown, f"rows for tables that do not exist at this revision: {unknown}"
    for table in metadata.sorted_tables:  # parents before children
        if rows.get(table.name):
            connection.execute(table.insert(), rows[table.name])


def snapshot(connection: Connection) -> Snapshot:
    inspector = inspect(connection)
    quote = connection.dialect.identifier_preparer.quote
    result: Snapshot = {}
    for name in inspector.get_table_names():
        if name == "alembic_version":
            continue
        columns = [column["name"] for column in inspector.get_columns(name)]
        keys = (
            ["id"] if "id" in columns else inspector.get_pk_constraint(name)["constrained_columns"]
        )
        select = f"SELECT {', '.join(map(quote, columns))} FROM {quote(name)}"
        table: Table = {}
        for raw in connection.execute(text(select)).mappings():
            row = dict(raw)
            table[tuple(row[key] for key in keys)] = row
        result[name] = table
    return result


def schema_of(connection: Connection) -> dict[str, set[str]]:
    """Column names by table (but alembic_version)."""
    inspector = inspect(connection)
    return {
        name: {column["name"] for column in inspector.get_columns(name)}
        for name in inspector.get_table_names()
        if name != "alembic_version"
    }


def assert_rows_survived(before: Snapshot, after: Snapshot) -> None:
    """Every table of `before` is in `after` with the same rows (same keys), and every value
    of the columns both sides still have is unchanged."""
    assert set(before) <= set(after), f"tables lost: {set(before) - set(after)}"
    for name, rows in before.items():
        assert set(after[name]) == set(rows), f"{name}: rows lost or added"
        for key, row in rows.items():
            kept = after[name][key]
            common = row.keys() & kept.keys()
            assert {c: kept[c] for c in common} == {c: row[c] for c in common}, f"{name} {key}"


def test_the_chain_has_steps_to_test() -> None:
    assert STEPS, "no migration after the first: nothing for these tests to do"
    assert STEPS[0][0] == "0001"


def test_every_revision_has_rows() -> None:
    """A new migration needs its rows in revision_data.ROWS_AT (see the README)."""
    assert set(ROWS_AT) == ALL_REVISIONS


@pytest.mark.parametrize(("down", "up"), STEPS, ids=[f"{d}->{u}" for d, u in STEPS])
def test_upgrade_keeps_every_row(
    migrations: Config, connect: Callable[[], Connection], down: str, up: str
) -> None:
    """Filled at `down`, upgraded to `up`: every row and value survives, backfills are right;
    downgraded back to `down`: the database is exactly as it was filled."""
    command.upgrade(migrations, down)
    with connect() as connection, connection.begin():
        fill(connection, ROWS_AT[down]())
    with connect() as connection:
        before = snapshot(connection)
    assert sum(map(len, before.values())) > 0

    command.upgrade(migrations, up)
    with connect() as connection:
        after = snapshot(connection)
    assert_rows_survived(before, without_lock_rows(after, up, keep=before))
    if up in AFTER_UPGRADE:
        AFTER_UPGRADE[up](before, after)

    command.downgrade(migrations, down)
    with connect() as connection:
        assert snapshot(connection) == before


@pytest.mark.parametrize(("down", "up"), STEPS, ids=[f"{u}->{d}" for d, u in STEPS])
def test_downgrade_keeps_every_row(
    migrations: Config, connect: Callable[[], Connection], down: str, up: str
) -> None:
    """Filled at `up`, downgraded to `down`: the schema is `down`'s again and every row of its
    tables survives in the columns it has; upgraded again: the rows are still all there."""
    command.upgrade(migrations, down)
    with connect() as connection:
        tables_at_down = schema_of(connection)
    command.upgrade(migrations, up)
    rows = ROWS_AT[up]()
    with connect() as connection, connection.begin():
        fill(connection, rows)
    with connect() as connection:
        filled = snapshot(connection)

    command.downgrade(migrations, down)
    with connect() as connection:
        assert schema_of(connection) == tables_at_down
        downgraded = snapshot(connection)
    kept = without_lock_rows(filled, up)
    assert_rows_survived({name: kept[name] for name in downgraded}, downgraded)

    command.upgrade(migrations, up)
    with connect() as connection:
        again = snapshot(connection)
    assert_rows_survived(downgraded, without_lock_rows(again, up, keep=downgraded))
    if up in AFTER_UPGRADE:
        AFTER_UPGRADE[up](downgraded, again)
