"""ORM base: a naming-convention MetaData and the column types every table shares."""

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SequenceKey = BigInteger().with_variant(Integer(), "sqlite")
"""Insertion sequence: BIGINT identity on PostgreSQL, the rowid (INTEGER PRIMARY KEY) on SQLite."""


def _stored_utc(value: datetime) -> datetime:
    """The UTC instant a stored time holds; a naive datetime is refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out; SQLite, which has no zone type, stores naive UTC text."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _stored_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[Base]) -> Table:
    """A mapped class's Table, typed as one (Core statements on it skip ORM bookkeeping)."""
    return cast(Table, model.__table__)


def json_parameter(value: Any) -> str:
    """A JSON document for a statement parameter that carries many rows at once (datetimes as
    ISO 8601 UTC). One JSON string is far cheaper for the driver than a parameter per value or
    an array per column, and the database unpacks it (json_to_recordset, json_each) once,
    parsing each number from its text: 17-digit floats and -0.0 arrive as sent."""
    return json.dumps(value, default=_iso_utc, allow_nan=False)


def _iso_utc(value: object) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return _stored_utc(value).isoformat()


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    update: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET update..., for many rows at once."""
    statement = _upsert_statement(session.get_bind().dialect.name, table, tuple(key), tuple(update))
    session.execute(statement, list(rows))


@functools.cache
def _upsert_statement(
    dialect: str, table: Table, key: tuple[str, ...], update: tuple[str, ...]
) -> sqlite.Insert | postgresql.Insert:
    """Built once per table and dialect: `excluded` proxies every column of the table, which
    cost the readings' writer more than running the statement did (14% of a batch)."""
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return insert.on_conflict_do_update(
        index_elements=list(key), set_={column: insert.excluded[column] for column in update}
    )
