"""Foreign keys while migrating.

On SQLite, env.py turns enforcement off while migrating (a batch migration rebuilds a table by
copy, DROP and rename, and the DROP of a referenced table fails or cascades once it has rows),
then runs `PRAGMA foreign_key_check` before committing. These tests pin both halves: a
migration that leaves a dangling reference is refused and rolled back whole, its DDL included
(env.py migrates in one transaction on SQLite too), as PostgreSQL's own constraints refuse it;
and enforcement is back on afterwards for the connection that migrated.
"""

import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from app.cli import alembic_config, migrations_root
from app.core.db import create_db_engine
from app.core.settings import Settings
from tests.support import TEST_DATABASE

BREAKING_REVISION = '''"""a broken migration: deletes a pattern that applications still reference"""
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("leftover", sa.Column("x", sa.Integer, primary_key=True))
    op.execute("DELETE FROM patterns WHERE id = 'p'")


def downgrade() -> None:
    pass
'''


def test_a_migration_that_breaks_a_foreign_key_is_rolled_back(
    migrations: Config, throwaway_settings: Settings, tmp_path: Path
) -> None:
    command.upgrade(migrations, "head")
    head = command.ScriptDirectory.from_config(migrations).get_current_head()
    engine = create_db_engine(throwaway_settings, pooled=False)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO patterns (id, pattern_type, pattern_name, quarantine_status,"
                " first_seen, last_seen, application_count, success_count, outcome_count)"
                " VALUES ('p', 't', 'n', 'pending', :t, :t, 1, 0, 0)"
            ),
            {"t": "2026-03-01 12:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at,"
                " retry_count_before, retry_count_after) VALUES ('a', 'p', 'e', :t, 0, 0)"
            ),
            {"t": "2026-03-01 12:00:00"},
        )

    scripts = tmp_path / "alembic"
    shutil.copytree(migrations_root() / "alembic", scripts)
    (scripts / "versions" / "9999_broken.py").write_text(BREAKING_REVISION.format(head=head))
    broken = alembic_config(throwaway_settings)
    broken.attributes["configure_logging"] = False
    broken.set_main_option("script_location", str(scripts))

    with pytest.raises((IntegrityError, RuntimeError), match=r"(?i)foreign key"):
        command.upgrade(broken, "9999")

    with engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM patterns")).scalars().all() == ["p"]
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        tables = set(inspect(connection).get_table_names())
    assert version == head
    assert "leftover" not in tables
    engine.dispose()


@pytest.mark.skipif(TEST_DATABASE != "sqlite", reason="SQLite's foreign_keys pragma")
def test_sqlite_enforcement_is_back_on_after_migrating(throwaway_settings: Settings) -> None:
    engine = create_db_engine(throwaway_settings)  # pooled: the migrating connection is reused
    try:
        config = alembic_config(throwaway_settings)
        config.attributes["configure_logging"] = False
        config.attributes["connection"] = engine
        command.upgrade(config, "head")
        command.downgrade(config, "0001")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert engine.pool.checkedin() == 1
    finally:
        engine.dispose()
