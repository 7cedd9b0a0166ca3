"""Entropy-response statistics maintained on write: each job's count, compensated sum of
entropy at trigger, boosts and revisits live on its `job_heads` row (locked by the writer),
beside the time of its last response. A statistics read is one row, or one pass over the heads.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.compensated import compensated_sum, merge_sql, total_of
from app.models import JobHead

_ADDED_COLUMNS = ("response_count", "response_boosts", "response_revisits")
_MERGE_ONE_JOB = text(
    "UPDATE job_heads SET "
    + ", ".join(f"{column} = job_heads.{column} + :{column}" for column in _ADDED_COLUMNS)
    + ", "
    + merge_sql(
        "response_entropy_sum",
        "response_entropy_compensation",
        lambda column: f":{column}",
        table="job_heads",
    )
    + " WHERE job_hash = :job_hash"
)


def deltas(responses: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a batch of new responses adds to each job's aggregates, one row per job."""
    by_job: dict[str, list[Mapping[str, Any]]] = {}
    for response in responses:
        by_job.setdefault(response["job_hash"], []).append(response)
    rows = []
    for job_hash, mine in by_job.items():
        added, compensation = compensated_sum(r["entropy_at_trigger"] for r in mine)
        rows.append(
            {
                "job_hash": job_hash,
                "response_count": len(mine),
                "response_entropy_sum": added,
                "response_entropy_compensation": compensation,
                "response_boosts": sum(1 for r in mine if r["budget_boosted"]),
                "response_revisits": sum(r["quarantine_revisits"] for r in mine),
            }
        )
    return rows


def add(session: Session, responses: Sequence[Mapping[str, Any]]) -> None:
    """Add new responses to their (locked) jobs' aggregates, one UPDATE per job."""
    session.execute(_MERGE_ONE_JOB, deltas(responses))


def statistics(session: Session, job_hash: str | None) -> dict[str, Any] | None:
    """The aggregates of one job, or of every job; None when there is no response."""
    if job_hash:
        head = session.get(JobHead, job_hash)
        if head is None or head.response_count == 0:
            return None
        return _statistics(
            head.response_count,
            head.response_entropy_sum + head.response_entropy_compensation,
            head.response_boosts,
            head.response_revisits,
            head.last_response_at,
        )
    count, boosts, revisits, last = session.execute(
        select(
            func.coalesce(func.sum(JobHead.response_count), 0),
            func.coalesce(func.sum(JobHead.response_boosts), 0),
            func.coalesce(func.sum(JobHead.response_revisits), 0),
            func.max(JobHead.last_response_at),
        )
    ).one()
    if not count:
        return None
    pairs = session.execute(
        select(JobHead.response_entropy_sum, JobHead.response_entropy_compensation).where(
            JobHead.response_count > 0
        )
    )
    return _statistics(
        int(count), total_of((pair[0], pair[1]) for pair in pairs), boosts, revisits, last
    )


def _statistics(
    count: int, total: float, boosts: int, revisits: int, last: datetime | None
) -> dict[str, Any]:
    return {
        "total_responses": count,
        "avg_entropy_at_trigger": total / count,
        "budget_boosts": int(boosts),
        "quarantine_revisits": int(revisits),
        "last_response": last,
    }
