"""The entropy-response chains of some jobs inside one transaction: when each last responded,
and the responses recorded since (inserted together by `flush`). It starts from the heads
`lock_jobs` returned."""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TypedDict

from sqlalchemy.orm import Session

from app.core.locking import LockedHead
from app.core.telemetry import tally_of
from app.responses import aggregates
from app.responses.repository import ResponseRepository


class ResponseRow(TypedDict):
    id: str
    job_hash: str
    recorded_at: datetime
    entropy_at_trigger: float
    threshold_used: float
    actions_taken: list[str]
    budget_boosted: bool
    quarantine_revisits: int
    patterns_revisited: list[str]


class ResponseChains:
    def __init__(self, session: Session, heads: Mapping[str, LockedHead]) -> None:
        self._repository = ResponseRepository(session)
        self._last: dict[str, datetime | None] = {
            job_hash: head.last_response_at for job_hash, head in heads.items()
        }
        self._pending: list[ResponseRow] = []
        self._moved: dict[str, datetime] = {}

    def last_response_at(self, job_hash: str) -> datetime | None:
        return self._last[job_hash]

    def append(
        self,
        job_hash: str,
        *,
        entropy_at_trigger: float,
        threshold_used: float,
        actions_taken: list[str],
        budget_boosted: bool,
        patterns_revisited: list[str],
        now: datetime,
    ) -> ResponseRow:
        last = self._last[job_hash]
        row: ResponseRow = {
            "id": str(uuid.uuid4()),
            "job_hash": job_hash,
            "recorded_at": now if last is None else max(now, last),
            "entropy_at_trigger": entropy_at_trigger,
            "threshold_used": threshold_used,
            "actions_taken": actions_taken,
            "budget_boosted": budget_boosted,
            "quarantine_revisits": len(patterns_revisited),
            "patterns_revisited": patterns_revisited,
        }
        self._last[job_hash] = self._moved[job_hash] = row["recorded_at"]
        self._pending.append(row)
        return row

    def flush(self) -> None:
        if self._pending:
            self._repository.insert(self._pending)
            self._repository.save_last_times(self._moved)
            aggregates.add(self._repository.session, self._pending)
            tally = tally_of(self._repository.session)
            if tally is not None:
                tally.responses += len(self._pending)
                tally.patterns_revisited += sum(
                    len(row["patterns_revisited"]) for row in self._pending
                )
            self._pending = []
            self._moved = {}
