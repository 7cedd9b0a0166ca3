"""Queries on `entropy_responses`."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, case, func, select
from sqlalchemy.orm import Session

from app.core.pagination import PageRequest, TimeWindow, keyset_page
from app.models import EntropyResponse


def history_rows(job_hash: str | None) -> Select[Any]:
    """The history's rows as Core rows (every column), for exports; unordered."""
    statement = select(EntropyResponse.__table__)
    if job_hash:
        statement = statement.where(EntropyResponse.job_hash == job_hash)
    return statement


class ResponseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _for_job(self, job_hash: str | None) -> Select[EntropyResponse]:
        statement = select(EntropyResponse)
        if job_hash:
            statement = statement.where(EntropyResponse.job_hash == job_hash)
        return statement

    def latest(self, job_hash: str | None) -> EntropyResponse | None:
        statement = self._for_job(job_hash).order_by(
            EntropyResponse.recorded_at.desc(), EntropyResponse.seq.desc()
        )
        return self.session.scalars(statement.limit(1)).first()

    def last_times(self, job_hashes: Iterable[str]) -> dict[str, datetime | None]:
        """When each job's most recent response was recorded (None: never)."""
        statement = (
            select(EntropyResponse.recorded_at)
            .where(EntropyResponse.job_hash == bindparam("job_hash"))
            .order_by(EntropyResponse.recorded_at.desc(), EntropyResponse.seq.desc())
            .limit(1)
        )
        return {
            job_hash: self.session.execute(statement, {"job_hash": job_hash}).scalar()
            for job_hash in job_hashes
        }

    def get(self, response_id: str) -> EntropyResponse | None:
        statement = select(EntropyResponse).where(EntropyResponse.id == response_id)
        return self.session.scalars(statement).first()

    def history(
        self, job_hash: str | None, page: PageRequest, window: TimeWindow
    ) -> tuple[Sequence[EntropyResponse], str | None]:
        return keyset_page(
            self.session,
            self._for_job(job_hash),
            at=EntropyResponse.recorded_at,
            seq=EntropyResponse.seq,
            page=page,
            window=window,
        )

    def aggregates(self, job_hash: str | None) -> tuple[int, float | None, int, int]:
        statement = select(
            func.count(),
            func.avg(EntropyResponse.entropy_at_trigger),
            func.coalesce(func.sum(case((EntropyResponse.budget_boosted, 1), else_=0)), 0),
            func.coalesce(func.sum(EntropyResponse.quarantine_revisits), 0),
        )
        if job_hash:
            statement = statement.where(EntropyResponse.job_hash == job_hash)
        total, avg_entropy, boosts, revisits = self.session.execute(statement).one()
        return int(total), avg_entropy, int(boosts), int(revisits)
