"""Bulk loads for the benchmarks: rows inserted straight into the tables, chunk by chunk, with
what the service maintains beside them kept as its writers keep it. Writing millions of rows
through the API would measure the write path instead of what a benchmark is after."""

import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

from app.budget import aggregates
from app.core.orm import table_of, upsert
from app.models import ExplorationBudget, JobHead

CHUNK = 20_000
START = datetime(2026, 1, 1, tzinfo=UTC)
"""Loaded rows are stamped from here on: months old, so a retention of 30 days prunes them."""


def add_budget_records(
    engine: Engine,
    job_hash: str,
    records: Sequence[tuple[float, str]],
    *,
    first_seq: int = 1,
    reason: str | None = None,
) -> int:
    """Extend the job's chain by `records` ((budget value, adjustment type) each, the one of
    job_seq n stamped START + n seconds); returns the new tip's job_seq. Each chunk commits
    with the job's head moved to its last record and its figures added to the job's
    statistics by the writers' own merge (`app.budget.aggregates.add`), so the loaded data is
    what the service would have written: heads, chains and aggregates agree after every chunk."""
    for offset in range(0, len(records), CHUNK):
        chunk = records[offset : offset + CHUNK]
        rows = [
            {
                "id": str(uuid.uuid4()),
                "job_hash": job_hash,
                "job_seq": first_seq + offset + n,
                "recorded_at": START + timedelta(seconds=first_seq + offset + n),
                "budget_value": value,
                "entropy_at_time": 0.5,
                "adjustment_type": adjustment_type,
                "adjustment_reason": reason,
            }
            for n, (value, adjustment_type) in enumerate(chunk)
        ]
        tip = rows[-1]
        with Session(engine) as session, session.begin():
            session.execute(insert(table_of(ExplorationBudget)), rows)
            upsert(
                session,
                table_of(JobHead),
                [
                    {
                        "job_hash": job_hash,
                        "budget_job_seq": tip["job_seq"],
                        "budget_value": tip["budget_value"],
                        "budget_recorded_at": tip["recorded_at"],
                    }
                ],
                key=["job_hash"],
                update=["budget_job_seq", "budget_value", "budget_recorded_at"],
            )
            aggregates.add(session, rows)
    return first_seq + len(records) - 1


def settle(engine: Engine) -> None:
    """What an operator's routine maintenance does after a bulk load, and what the machine does
    on its own: without the flush, the kernel writing back the load's ~500 MB of dirty pages
    slows whichever endpoint is measured first by 2-3x."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("VACUUM ANALYZE"))
            connection.execute(text("CHECKPOINT"))
        else:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            connection.execute(text("ANALYZE"))
    os.sync()
    time.sleep(5)
