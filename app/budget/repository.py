"""Queries on `exploration_budget`."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from app.budget.rules import BudgetDecision
from app.core.pagination import PageRequest, TimeWindow, keyset_page
from app.models import ExplorationBudget


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

    def append(
        self,
        job_hash: str,
        decision: BudgetDecision,
        *,
        entropy_at_time: float | None,
        predecessor: ExplorationBudget | None,
        now: datetime,
    ) -> ExplorationBudget:
        """Add the record that follows `predecessor`; the caller holds the job's lock.

        Its time never precedes its predecessor's, so "most recent" and the chain agree even if
        the clock steps back or replicas' clocks disagree.
        """
        record = ExplorationBudget(
            id=str(uuid.uuid4()),
            job_hash=job_hash,
            job_seq=1 if predecessor is None else predecessor.job_seq + 1,
            recorded_at=now if predecessor is None else max(now, predecessor.recorded_at),
            budget_value=decision.budget_value,
            entropy_at_time=entropy_at_time,
            adjustment_type=decision.adjustment_type,
            adjustment_reason=decision.adjustment_reason,
        )
        self.session.add(record)
        self.session.flush()
        return record

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
