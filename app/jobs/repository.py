"""Queries across jobs."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.core.pagination import PageRequest, keyset_page
from app.models import ExplorationBudget


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def latest_budgets(self, page: PageRequest) -> tuple[Sequence[ExplorationBudget], str | None]:
        """The newest budget record of every job, most recently active job first.

        It ranks every budget record, so it costs a pass over the table: fine for a job picker,
        not for a hot path.
        """
        ranked = select(
            ExplorationBudget,
            func.row_number()
            .over(
                partition_by=ExplorationBudget.job_hash,
                order_by=(ExplorationBudget.recorded_at.desc(), ExplorationBudget.seq.desc()),
            )
            .label("rank"),
        ).subquery()
        latest = aliased(ExplorationBudget, ranked)
        return keyset_page(
            self.session,
            select(latest).where(ranked.c.rank == 1),
            at=latest.recorded_at,
            seq=latest.seq,
            page=page,
        )
