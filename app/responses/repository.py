"""Queries on `entropy_responses`."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from app.core.orm import table_of, upsert
from app.core.repository import HistoryRepository
from app.models import EntropyResponse, JobHead


class ResponseRepository(HistoryRepository[EntropyResponse]):
    model = EntropyResponse
    at = EntropyResponse.recorded_at
    noun = "entropy response"

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
