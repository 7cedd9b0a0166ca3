"""Queries on `entropy_responses`."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select

from app.core.orm import table_of, upsert
from app.core.repository import HistoryRepository
from app.models import EntropyResponse, JobHead


class ResponseRepository(HistoryRepository[EntropyResponse]):
    model = EntropyResponse
    at = EntropyResponse.recorded_at
    noun = "entropy response"
    latest_noun = "entropy response"

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

    def aggregates(self, job_hash: str | None) -> tuple[int, float | None, int, int]:
        statement = select(
            func.count(),
            func.avg(EntropyResponse.entropy_at_trigger),
            func.coalesce(func.sum(case((EntropyResponse.budget_boosted, 1), else_=0)), 0),
            func.coalesce(func.sum(EntropyResponse.quarantine_revisits), 0),
        )
        statement = self.filtered(statement, {"job_hash": job_hash})
        total, avg_entropy, boosts, revisits = self.session.execute(statement).one()
        return int(total), avg_entropy, int(boosts), int(revisits)
