"""Alembic environment: the URL and engine come from the application's own settings."""

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection, Engine

from app import models  # noqa: F401  (registers every table on Base.metadata)
from app.core.db import create_db_engine, database_url, is_sqlite
from app.core.orm import Base, UTCDateTime
from app.core.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render the app's column types as plain SQLAlchemy types, so migrations never import app."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(connection.engine.url),
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
        # All the pending migrations in one transaction, on SQLite too: Alembic assumes SQLite
        # cannot roll DDL back (pysqlite's legacy transactions) and commits each migration on
        # its own, so a failure left the database half-migrated. Our engines emit BEGIN
        # themselves (app.core.db), which makes SQLite's DDL transactional.
        transactional_ddl=True,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()
        if is_sqlite(connection.engine.url):
            _check_sqlite_foreign_keys(connection)


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    """Refuse to commit a migration that left a dangling reference (checked while off)."""
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        raise RuntimeError(
            f"the migration broke foreign keys (table, rowid, parent, fk): {violations}"
        )


def _sqlite_foreign_keys(connection: Connection, enabled: bool | None = None) -> bool:
    """Read, and optionally set, SQLite's foreign key enforcement on the driver's connection.

    Set outside any transaction (SQLite ignores the pragma inside one), hence on the driver
    connection, which our engines leave in autocommit between transactions."""
    driver = connection.connection.driver_connection
    assert driver is not None
    if enabled is not None:
        driver.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
    return bool(driver.execute("PRAGMA foreign_keys").fetchone()[0])


def _run_on_own_connection(engine: Engine) -> None:
    with engine.connect() as connection:
        if not is_sqlite(connection.engine.url) or connection.in_transaction():
            # (A connection already in a transaction is its holder's, and SQLite would ignore
            # the pragma inside one anyway: pytest-alembic's downgrade_leaves_no_trace.)
            _run(connection)
            return
        # Batch migrations rebuild a SQLite table (copy, DROP, rename); with enforcement on,
        # the DROP of a referenced table (patterns) fails, or cascades, as soon as it holds
        # rows. So enforcement is off while migrating, as SQLite's ALTER TABLE procedure and
        # Alembic's batch documentation prescribe, and `PRAGMA foreign_key_check` must come
        # back empty before the commit.
        was_enabled = _sqlite_foreign_keys(connection)
        _sqlite_foreign_keys(connection, enabled=False)
        try:
            _run(connection)
        finally:
            if connection.in_transaction():  # the pragma is ignored inside a transaction
                connection.rollback()
            _sqlite_foreign_keys(connection, enabled=was_enabled)


def run_migrations_online() -> None:
    """Migrate on `config.attributes["connection"]` when given, else on the settings' database.

    A Connection is used as it is, inside the caller's transaction if one is open (on SQLite
    the caller then decides about foreign key enforcement); anything else given there is
    connected to like our own engine (pytest-alembic passes its `alembic_engine`, or a wrapper
    whose `connect()` yields a connection it holds)."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    if given is not None:
        _run_on_own_connection(given)
        return
    settings: Settings = config.attributes.get("settings") or Settings()
    engine = create_db_engine(settings, pooled=False)
    try:
        _run_on_own_connection(engine)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    settings: Settings = config.attributes.get("settings") or Settings()
    context.configure(
        url=database_url(settings.database_url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
