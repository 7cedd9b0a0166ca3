"""The budget chains of some jobs inside one transaction: their tips, and new records.

Every writer of budget records (direct updates, adjustments, responses, readings, one at a
time or in a batch) appends through this class, so a record always follows its job's true tip:
`job_seq` one higher, a time never before the tip's. It starts from the heads `lock_jobs`
returned; the new records are inserted together by `flush`.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TypedDict

from sqlalchemy.orm import Session

from app.budget.repository import BudgetRepository, BudgetTip
from app.budget.rules import BudgetDecision
from app.core.locking import LockedHead
from app.core.telemetry import tally_of


class BudgetRow(TypedDict):
    id: str
    job_hash: str
    job_seq: int
    recorded_at: datetime
    budget_value: float
    entropy_at_time: float | None
    adjustment_type: str
    adjustment_reason: str | None


class BudgetChains:
    def __init__(self, session: Session, heads: Mapping[str, LockedHead]) -> None:
        self._repository = BudgetRepository(session)
        self._tips: dict[str, BudgetTip | None] = {
            job_hash: _tip_of(head) for job_hash, head in heads.items()
        }
        self._pending: list[BudgetRow] = []
        self._moved: dict[str, BudgetTip] = {}

    def current(self, job_hash: str) -> float | None:
        tip = self._tips[job_hash]
        return None if tip is None else tip.budget_value

    def append(
        self,
        job_hash: str,
        decision: BudgetDecision,
        *,
        entropy_at_time: float | None,
        now: datetime,
    ) -> BudgetRow:
        """The job's next record (the row to insert, which is also the API's record)."""
        tip = self._tips[job_hash]
        recorded_at = now if tip is None else max(now, tip.recorded_at)
        record: BudgetRow = {
            "id": str(uuid.uuid4()),
            "job_hash": job_hash,
            "job_seq": 1 if tip is None else tip.job_seq + 1,
            "recorded_at": recorded_at,
            "budget_value": decision.budget_value,
            "entropy_at_time": entropy_at_time,
            "adjustment_type": decision.adjustment_type,
            "adjustment_reason": decision.adjustment_reason,
        }
        tip = BudgetTip(record["job_seq"], decision.budget_value, recorded_at)
        self._tips[job_hash] = self._moved[job_hash] = tip
        self._pending.append(record)
        return record

    def flush(self) -> None:
        """Insert the appended records, in the order they were appended, move the tips, and
        count them (published when the transaction commits)."""
        if self._pending:
            self._repository.append(self._pending, self._moved)
            tally = tally_of(self._repository.session)
            if tally is not None:
                for record in self._pending:
                    tally.adjustments[record["adjustment_type"]] += 1
                    tally.budgets[record["job_hash"]] = record["budget_value"]
            self._pending = []
            self._moved = {}


def _tip_of(head: LockedHead) -> BudgetTip | None:
    # The three budget columns are written together (BudgetRepository.append), never alone.
    if head.budget_job_seq is None or head.budget_value is None:
        return None
    if head.budget_recorded_at is None:
        return None
    return BudgetTip(head.budget_job_seq, head.budget_value, head.budget_recorded_at)
