"""Queries on `exploration_budget`."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, text

from app.budget import aggregates
from app.core.orm import json_parameter, table_of, upsert
from app.core.repository import HistoryRepository
from app.models import ExplorationBudget, JobHead


@dataclass
class BudgetTip:
    """Where a job's budget chain ends: the latest record's position, value and time."""

    job_seq: int
    budget_value: float
    recorded_at: datetime


_RECORD_COLUMNS = (
    "id text, job_hash text, job_seq integer, recorded_at timestamptz, budget_value float8, "
    "entropy_at_time float8, adjustment_type text, adjustment_reason text"
)
_APPEND_ON_POSTGRESQL = text(
    "WITH inserted AS ("
    "INSERT INTO exploration_budget (id, job_hash, job_seq, recorded_at, budget_value, "
    "entropy_at_time, adjustment_type, adjustment_reason) "
    "SELECT r.id, r.job_hash, r.job_seq, r.recorded_at, r.budget_value, r.entropy_at_time, "
    "r.adjustment_type, r.adjustment_reason "
    f"FROM ROWS FROM (json_to_recordset(CAST(:records AS json)) AS ({_RECORD_COLUMNS})) "
    "WITH ORDINALITY AS r(id, job_hash, job_seq, recorded_at, budget_value, entropy_at_time, "
    "adjustment_type, adjustment_reason, position) "
    "ORDER BY r.position) "
    "UPDATE job_heads SET budget_job_seq = t.job_seq, budget_value = t.budget_value, "
    "budget_recorded_at = t.recorded_at, "
    f"{aggregates.merge_assignments(lambda column: f'a.{column}')} "
    "FROM json_to_recordset(CAST(:tips AS json)) "
    "AS t(job_hash text, job_seq integer, budget_value float8, recorded_at timestamptz), "
    f"json_to_recordset(CAST(:aggregates AS json)) AS a({aggregates.DELTA_COLUMNS}) "
    "WHERE job_heads.job_hash = t.job_hash AND a.job_hash = t.job_hash"
)
"""Insert records in the order given (their `seq` follows it), and move the heads and add
the records to their aggregates, at once."""


class BudgetRepository(HistoryRepository[ExplorationBudget]):
    model = ExplorationBudget
    at = ExplorationBudget.recorded_at
    noun = "budget record"
    latest_noun = "exploration budget"

    def append(self, records: Sequence[Mapping[str, Any]], tips: Mapping[str, BudgetTip]) -> None:
        """Insert the records, in order, move the (locked) jobs' heads to their new tips and
        add the records to the jobs' aggregates (`app.budget.aggregates`).

        On PostgreSQL this is one statement with the rows as one JSON parameter: an
        executemany costs SQLAlchemy and psycopg work per row, and the upsert a second round
        trip, all while the jobs are locked."""
        if self.session.get_bind().dialect.name == "postgresql":
            moved = self.session.connection().execute(
                _APPEND_ON_POSTGRESQL,
                {
                    "records": json_parameter(list(records)),
                    "tips": json_parameter(
                        [
                            {
                                "job_hash": job_hash,
                                "job_seq": tip.job_seq,
                                "budget_value": tip.budget_value,
                                "recorded_at": tip.recorded_at,
                            }
                            for job_hash, tip in tips.items()
                        ]
                    ),
                    "aggregates": json_parameter(aggregates.deltas(records)),
                },
            )
            if moved.rowcount != len(tips):  # a head that does not exist: no lock was taken
                raise RuntimeError("append to budget chains whose jobs are not locked")
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
        aggregates.add(self.session, records)
