"""Queries on `exploration_budget`."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, func, select
from sqlalchemy.orm import Session

from app.core.pagination import PageRequest, TimeWindow, keyset_page
from app.models import ExplorationBudget


@dataclass
class BudgetTip:
    """Where a job's budget chain ends: the latest record's position, value and time."""

    job_seq: int
    budget_value: float
    recorded_at: datetime


def history_rows(job_hash: str | None) -> Select[Any]:
    """The history's rows as Core rows (every column), for exports; unordered."""
    statement = select(ExplorationBudget.__table__)
    if job_hash:
        statement = statement.where(ExplorationBudget.job_hash == job_hash)
    return statement


class BudgetRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _for_job(self, job_hash: str | None) -> Select[ExplorationBudget]:
        statement = select(ExplorationBudget)
        if job_hash:
            statement = statement.where(ExplorationBudget.job_hash == job_hash)
        return statement

    def latest(self, job_hash: str | None) -> ExplorationBudget | None:
        """Most recent record: newest `recorded_at`, ties broken by insertion order."""
        statement = self._for_job(job_hash).order_by(
            ExplorationBudget.recorded_at.desc(), ExplorationBudget.seq.desc()
        )
        return self.session.scalars(statement.limit(1)).first()

    def get(self, record_id: str) -> ExplorationBudget | None:
        return self.session.scalars(
            select(ExplorationBudget).where(ExplorationBudget.id == record_id)
        ).first()

    def tips(self, job_hashes: Iterable[str]) -> dict[str, BudgetTip | None]:
        """The tip of each job's chain (None: no record yet)."""
        statement = (
            select(
                ExplorationBudget.job_seq,
                ExplorationBudget.budget_value,
                ExplorationBudget.recorded_at,
            )
            .where(ExplorationBudget.job_hash == bindparam("job_hash"))
            .order_by(ExplorationBudget.recorded_at.desc(), ExplorationBudget.seq.desc())
            .limit(1)
        )
        tips: dict[str, BudgetTip | None] = {}
        for job_hash in job_hashes:
            row = self.session.execute(statement, {"job_hash": job_hash}).first()
            tips[job_hash] = None if row is None else BudgetTip(*row)
        return tips

    def history(
        self, job_hash: str | None, page: PageRequest, window: TimeWindow
    ) -> tuple[Sequence[ExplorationBudget], str | None]:
        return keyset_page(
            self.session,
            self._for_job(job_hash),
            at=ExplorationBudget.recorded_at,
            seq=ExplorationBudget.seq,
            page=page,
            window=window,
        )

    def aggregates(self, job_hash: str | None) -> dict[str, float | int | None]:
        def count_of(adjustment_type: str) -> ColumnElement[int]:
            return func.coalesce(
                func.sum(case((ExplorationBudget.adjustment_type == adjustment_type, 1), else_=0)),
                0,
            )

        statement = select(
            func.count().label("total_adjustments"),
            func.avg(ExplorationBudget.budget_value).label("avg_budget"),
            func.min(ExplorationBudget.budget_value).label("min_budget"),
            func.max(ExplorationBudget.budget_value).label("max_budget"),
            count_of("floor_enforced").label("floor_enforcements"),
            count_of("ceiling_enforced").label("ceiling_enforcements"),
            count_of("boost").label("boost_count"),
            count_of("decay").label("decay_count"),
            count_of("initial").label("initial_count"),
        )
        if job_hash:
            statement = statement.where(ExplorationBudget.job_hash == job_hash)
        return dict(self.session.execute(statement).one()._mapping)
