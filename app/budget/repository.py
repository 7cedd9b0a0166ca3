"""Queries on `exploration_budget`."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, insert, select, text
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


_COLUMNS = {
    "id": "text",
    "job_hash": "text",
    "job_seq": "integer",
    "recorded_at": "timestamptz",
    "budget_value": "float8",
    "entropy_at_time": "float8",
    "adjustment_type": "text",
    "adjustment_reason": "text",
}
_APPEND_ON_POSTGRESQL = text(
    "WITH inserted AS ("
    f"INSERT INTO exploration_budget ({', '.join(_COLUMNS)}) "
    f"SELECT {', '.join(_COLUMNS)} FROM unnest("
    + ", ".join(f"CAST(:{column} AS {kind}[])" for column, kind in _COLUMNS.items())
    + f") WITH ORDINALITY AS r({', '.join(_COLUMNS)}, position) ORDER BY r.position) "
    "UPDATE job_heads SET budget_job_seq = t.job_seq, budget_value = t.budget_value, "
    "budget_recorded_at = t.recorded_at "
    "FROM unnest(CAST(:tip_job_hash AS text[]), CAST(:tip_job_seq AS integer[]), "
    "CAST(:tip_budget_value AS float8[]), CAST(:tip_recorded_at AS timestamptz[])) "
    "AS t(job_hash, job_seq, budget_value, recorded_at) "
    "WHERE job_heads.job_hash = t.job_hash"
)
"""Insert records in the order given (their `seq` follows it) and move the heads, at once."""


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

    def append(self, records: Sequence[Mapping[str, Any]], tips: Mapping[str, BudgetTip]) -> None:
        """Insert the records, in order, and move the (locked) jobs' heads to their new tips.

        On PostgreSQL this is one statement with one array per column: an executemany costs
        SQLAlchemy and psycopg per-row work, and the upsert a second round trip, all while
        the jobs are locked."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                _APPEND_ON_POSTGRESQL,
                {
                    **{column: [record[column] for record in records] for column in _COLUMNS},
                    "tip_job_hash": list(tips),
                    "tip_job_seq": [tip.job_seq for tip in tips.values()],
                    "tip_budget_value": [tip.budget_value for tip in tips.values()],
                    "tip_recorded_at": [tip.recorded_at for tip in tips.values()],
                },
            )
            return
        self.session.execute(insert(table_of(ExplorationBudget)), list(records))
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
