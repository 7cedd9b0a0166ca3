"""Budget rules applied in the request's transaction, under the job's lock."""

from sqlalchemy.orm import Session

from app.budget import aggregates, rules
from app.budget.chains import BudgetChains, BudgetRow
from app.budget.repository import BudgetRepository
from app.budget.schemas import (
    BudgetAdjustmentRequest,
    BudgetRecord,
    BudgetRecordPage,
    BudgetStatistics,
    BudgetUpdate,
)
from app.core.clock import Clock
from app.core.history import History
from app.core.locking import lock_jobs


def set_budget(session: Session, clock: Clock, body: BudgetUpdate) -> BudgetRow:
    chains = BudgetChains(session, lock_jobs(session, [body.job_hash]))
    record = chains.append(
        body.job_hash,
        rules.enforce_bounds(
            body.budget_value, body.adjustment_type, body.adjustment_reason, body.bounds
        ),
        entropy_at_time=body.entropy_at_time,
        now=clock(),
    )
    chains.flush()
    return record


def adjust_budget(session: Session, clock: Clock, body: BudgetAdjustmentRequest) -> BudgetRow:
    chains = BudgetChains(session, lock_jobs(session, [body.job_hash]))
    record = chains.append(
        body.job_hash,
        rules.adjust_for_entropy(chains.current(body.job_hash), body.current_entropy, body.policy),
        entropy_at_time=body.current_entropy,
        now=clock(),
    )
    chains.flush()
    return record


BUDGET_HISTORY = History(
    repository=BudgetRepository,
    record=BudgetRecord,
    page_model=BudgetRecordPage,
    name="budget-history",
    plural="budget records",
    item="record",
)


def budget_statistics(session: Session, job_hash: str | None) -> BudgetStatistics:
    """From the maintained aggregates (`app.budget.aggregates`): the job's whole life, however
    long its history and whatever was pruned from it."""
    figures = aggregates.statistics(session, job_hash)
    if figures is None:
        return BudgetStatistics(
            current_budget=None,
            avg_budget=0.0,
            min_budget=0.0,
            max_budget=0.0,
            total_adjustments=0,
            floor_enforcements=0,
            ceiling_enforcements=0,
            boost_count=0,
            decay_count=0,
            initial_count=0,
        )
    if not job_hash:
        latest = BudgetRepository(session).latest()
        figures["current_budget"] = None if latest is None else latest.budget_value
    return BudgetStatistics.model_validate(figures)
