"""Alembic environment: the URL and engine come from the application's own settings."""

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

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
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on `config.attributes["connection"]` when given, else on the settings' database.

    A Connection is used as it is, inside the caller's transaction if one is open; anything
    else given there is connected to like an engine (pytest-alembic passes its
    `alembic_engine`, or a wrapper whose `connect()` yields a connection it holds)."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    if given is not None:
        with given.connect() as connection:
            _run(connection)
        return
    settings: Settings = config.attributes.get("settings") or Settings()
    engine = create_db_engine(settings, pooled=False)
    try:
        with engine.connect() as connection:
            _run(connection)
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
