"""The repository bases every domain builds on (the idea of polar's `kit/repository/base.py`):
the model is named once on the class, and the reads every table shares are written once.

`RepositoryBase` reads one record by its public id; `HistoryRepository` adds what an
append-only history is read by: its filters, its newest record, its keyset pages and the rows
of its export.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session

from app.core.orm import table_of
from app.core.pagination import PageRequest, TimeWindow, keyset_page
from app.core.problems import NotFoundProblem


class Identified(Protocol):
    """A table with a public string `id` and an insertion sequence `seq` (every table here)."""

    id: Mapped[str]
    seq: Mapped[int]


M = TypeVar("M", bound=Identified)
S = TypeVar("S", bound=Select[Any])

HistoryFilters = dict[str, str | None]
"""Equality filters on a history's columns (`job_hash=...`); an empty or None value is no
filter at all, as the API's `job_hash=` means every job."""


class RepositoryBase(Generic[M]):
    model: ClassVar[type[Any]]
    noun: ClassVar[str]
    """How a 404 names a missing record: `No budget record 'x'.`"""
    blocks_references: ClassVar[bool] = True
    """Whether `get(for_update=True)` also holds off foreign-key checks of rows referencing it
    (FOR UPDATE) or lets them through (FOR NO KEY UPDATE, for rows that many rows reference)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, record_id: str, *, for_update: bool = False) -> M | None:
        statement = select(self.model).where(self.model.id == record_id)
        if for_update:
            statement = statement.with_for_update(key_share=not self.blocks_references)
        record: M | None = self.session.scalars(statement).first()
        return record

    def get_or_404(self, record_id: str, *, for_update: bool = False) -> M:
        record = self.get(record_id, for_update=for_update)
        if record is None:
            raise NotFoundProblem(f"No {self.noun} {record_id!r}.")
        return record


class HistoryRepository(RepositoryBase[M]):
    """An append-only table read newest first by (`at`, `seq`), optionally filtered."""

    at: ClassVar[InstrumentedAttribute[datetime]]
    """The time a record is ordered, paged and windowed by."""
    latest_noun: ClassVar[str | None] = None
    """How a 404 names the newest record, when not by `noun`: `No exploration budget has been
    recorded for ...`"""

    @classmethod
    def filtered(cls, statement: S, filters: HistoryFilters) -> S:
        for column, value in filters.items():
            if value:
                statement = statement.where(getattr(cls.model, column) == value)
        return statement

    @classmethod
    def export_rows(cls, filters: HistoryFilters) -> Select[Any]:
        """The history's rows as Core rows (every column), for exports; unordered."""
        return cls.filtered(select(table_of(cls.model)), filters)

    def latest(self, **filters: str | None) -> M | None:
        """The most recent record: newest `at`, ties broken by insertion order."""
        statement = self.filtered(select(self.model), filters).order_by(
            type(self).at.desc(), self.model.seq.desc()
        )
        record: M | None = self.session.scalars(statement.limit(1)).first()
        return record

    def latest_or_404(self, **filters: str | None) -> M:
        record = self.latest(**filters)
        if record is None:
            job_hash = filters.get("job_hash")
            scope = f"job {job_hash!r}" if job_hash else "any job"
            raise NotFoundProblem(
                f"No {self.latest_noun or self.noun} has been recorded for {scope}."
            )
        return record

    def page(
        self, page: PageRequest, window: TimeWindow, **filters: str | None
    ) -> tuple[Sequence[M], str | None]:
        return keyset_page(
            self.session,
            self.filtered(select(self.model), filters),
            at=type(self).at,
            seq=self.model.seq,
            page=page,
            window=window,
        )
