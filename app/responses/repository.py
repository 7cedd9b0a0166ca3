"""Queries on `entropy_responses`."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, insert, select
from sqlalchemy.orm import Session

from app.core.orm import table_of, upsert
from app.core.pagination import PageRequest, TimeWindow, keyset_page
from app.models import EntropyResponse, JobHead


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

    def save_last_times(self, times: Mapping[str, datetime]) -> None:
        upsert(
            self.session,
            table_of(JobHead),
            [{"job_hash": job, "last_response_at": at} for job, at in sorted(times.items())],
            key=["job_hash"],
            update=["last_response_at"],
        )

    def insert(self, responses: Sequence[Mapping[str, Any]]) -> None:
        self.session.execute(insert(table_of(EntropyResponse)), list(responses))

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
