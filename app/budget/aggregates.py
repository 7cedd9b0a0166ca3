"""Budget statistics maintained on write: each job's count, compensated sum, min, max and
counts by type live on its `job_heads` row, which every writer already holds locked and
updates in the batch's transaction. A write adds its batch's figures (O(1) per record, no
read); a per-job statistics read is one row, the all-jobs figure one pass over the heads.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.compensated import compensated_sum, merge_sql, total_of
from app.models import JobHead

COUNTED_TYPES = {
    "initial": "budget_initial_count",
    "decay": "budget_decay_count",
    "boost": "budget_boost_count",
    "floor_enforced": "budget_floor_count",
    "ceiling_enforced": "budget_ceiling_count",
}
"""The adjustment types the statistics count, and the head column counting each."""

_ADDED_COLUMNS = ("budget_count", *COUNTED_TYPES.values())
DELTA_COLUMNS = (
    "job_hash text, budget_count bigint, budget_sum float8, budget_sum_compensation float8, "
    "budget_min float8, budget_max float8, "
    + ", ".join(f"{column} bigint" for column in COUNTED_TYPES.values())
)
"""A delta row's columns, for PostgreSQL's json_to_recordset."""


def deltas(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a batch of new budget records adds to each job's aggregates, one row per job."""
    values: dict[str, list[float]] = {}
    types: dict[str, list[str]] = {}
    for record in records:
        values.setdefault(record["job_hash"], []).append(record["budget_value"])
        types.setdefault(record["job_hash"], []).append(record["adjustment_type"])
    rows = []
    for job_hash, job_values in values.items():
        added, compensation = compensated_sum(job_values)
        job_types = types[job_hash]
        rows.append(
            {
                "job_hash": job_hash,
                "budget_count": len(job_values),
                "budget_sum": added,
                "budget_sum_compensation": compensation,
                "budget_min": min(job_values),
                "budget_max": max(job_values),
                **{column: job_types.count(kind) for kind, column in COUNTED_TYPES.items()},
            }
        )
    return rows


def merge_assignments(value: Callable[[str], str]) -> str:
    """SET assignments of `job_heads` adding a delta row (`value(column)` names its fields)."""
    assignments = [f"{column} = job_heads.{column} + {value(column)}" for column in _ADDED_COLUMNS]
    assignments.append(merge_sql("budget_sum", "budget_sum_compensation", value, table="job_heads"))
    for column, keep in (("budget_min", "<"), ("budget_max", ">")):
        assignments.append(
            f"{column} = CASE WHEN job_heads.{column} IS NULL "
            f"OR {value(column)} {keep} job_heads.{column} "
            f"THEN {value(column)} ELSE job_heads.{column} END"
        )
    return ", ".join(assignments)


_MERGE_ONE_JOB = text(
    f"UPDATE job_heads SET {merge_assignments(lambda column: f':{column}')} "
    "WHERE job_hash = :job_hash"
)


def add(session: Session, records: Sequence[Mapping[str, Any]]) -> None:
    """Add new records to their (locked) jobs' aggregates, one UPDATE per job."""
    session.execute(_MERGE_ONE_JOB, deltas(records))


def statistics(session: Session, job_hash: str | None) -> dict[str, Any] | None:
    """The aggregates of one job, or of every job; None when there is no budget record.
    `current_budget` is only given for one job (the caller finds the latest of all jobs)."""
    if job_hash:
        head = session.get(JobHead, job_hash)
        if head is None or head.budget_count == 0:
            return None
        return _statistics(
            count=head.budget_count,
            total=head.budget_sum + head.budget_sum_compensation,
            minimum=head.budget_min,
            maximum=head.budget_max,
            counts={column: getattr(head, column) for column in COUNTED_TYPES.values()},
        ) | {"current_budget": head.budget_value}
    columns = {column: getattr(JobHead, column) for column in _ADDED_COLUMNS}
    figures = session.execute(
        select(
            *(func.coalesce(func.sum(column), 0).label(name) for name, column in columns.items()),
            func.min(JobHead.budget_min),
            func.max(JobHead.budget_max),
        )
    ).one()
    count = int(figures[0])
    if count == 0:
        return None
    pairs = session.execute(
        select(JobHead.budget_sum, JobHead.budget_sum_compensation).where(JobHead.budget_count > 0)
    )
    return _statistics(
        count=count,
        total=total_of((pair[0], pair[1]) for pair in pairs),
        minimum=figures[-2],
        maximum=figures[-1],
        counts={name: int(figures[index + 1]) for index, name in enumerate(COUNTED_TYPES.values())},
    )


def _statistics(
    *,
    count: int,
    total: float,
    minimum: float | None,
    maximum: float | None,
    counts: Mapping[str, int],
) -> dict[str, Any]:
    return {
        "total_adjustments": count,
        "avg_budget": total / count,
        "min_budget": minimum,
        "max_budget": maximum,
        "initial_count": counts["budget_initial_count"],
        "decay_count": counts["budget_decay_count"],
        "boost_count": counts["budget_boost_count"],
        "floor_enforcements": counts["budget_floor_count"],
        "ceiling_enforcements": counts["budget_ceiling_count"],
    }
