"""Queries on `exploration_budget`."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, insert, select
from sqlalchemy.orm import Session

from app.core.orm import table_of, upsert
from app.core.pagination import PageRequest, TimeWindow, keyset_page
from app.models import ExplorationBudget, JobHead


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
        """The tip of each job's chain (None: no record yet), from `job_heads`."""
        wanted = list(job_hashes)
        rows = self.session.execute(
            select(
                JobHead.job_hash,
                JobHead.budget_job_seq,
                JobHead.budget_value,
                JobHead.budget_recorded_at,
            ).where(JobHead.job_hash.in_(wanted))
        )
        tips: dict[str, BudgetTip | None] = dict.fromkeys(wanted)
        for job_hash, job_seq, budget_value, recorded_at in rows:
            # The three budget columns are written together (save_tips), never one alone.
            if job_seq is not None and budget_value is not None and recorded_at is not None:
                tips[job_hash] = BudgetTip(job_seq, budget_value, recorded_at)
        return tips

    def save_tips(self, tips: Mapping[str, BudgetTip]) -> None:
        upsert(
            self.session,
            table_of(JobHead),
            [
                {
                    "job_hash": job_hash,
                    "budget_job_seq": tip.job_seq,
                    "budget_value": tip.budget_value,
                    "budget_recorded_at": tip.recorded_at,
                }
                for job_hash, tip in sorted(tips.items())
            ],
            key=["job_hash"],
            update=["budget_job_seq", "budget_value", "budget_recorded_at"],
        )

    def insert(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.session.execute(insert(table_of(ExplorationBudget)), list(records))

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
