"""HTTP shape of the exploration budget (seed: get/update/calculate/history/statistics)."""

from typing import Annotated

from fastapi import Path, Request, Response, status

from app.budget import service
from app.budget.schemas import (
    BudgetAdjustmentRequest,
    BudgetRecord,
    BudgetStatistics,
    BudgetUpdate,
)
from app.core.clock import ClockDep
from app.core.db import DbSession
from app.core.history import add_history_route, job_filter
from app.core.http import (
    CREATED_AT_LOCATION,
    WRITE_PROBLEMS,
    JobHashQuery,
    problem_responses,
    set_location,
)
from app.core.routing import service_router
from app.core.schemas import Identifier

router = service_router("/v1/budget", "budget")

RecordId = Annotated[
    Identifier,
    Path(
        description="The budget record's id (a UUID).",
        examples=["0b5e8f0e-6a4c-4d43-9d0f-2f4f7f3c9a11"],
    ),
]


@router.get("", summary="Current exploration budget", responses=problem_responses(404))
def get_budget(session: DbSession, job_hash: JobHashQuery = "") -> BudgetRecord:
    """The most recent budget record of the job (or of all jobs when no job is given)."""
    return service.BUDGET_HISTORY.latest(session, job_hash)


add_history_route(
    router,
    service.BUDGET_HISTORY,
    name="list_budget_history",
    summary="Budget history, newest first",
    filters=job_filter,
)


@router.get("/statistics", summary="Budget statistics")
def get_budget_statistics(session: DbSession, job_hash: JobHashQuery = "") -> BudgetStatistics:
    """Counts and aggregates over the budget records of the job (or of every job)."""
    return service.budget_statistics(session, job_hash)


@router.get("/records/{record_id}", summary="One budget record", responses=problem_responses(404))
def get_budget_record(session: DbSession, record_id: RecordId) -> BudgetRecord:
    """A budget record by its id, as its creation's `Location` names it."""
    return service.BUDGET_HISTORY.get(session, record_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Set the budget directly",
    responses={**WRITE_PROBLEMS, **CREATED_AT_LOCATION},
)
def set_budget(
    session: DbSession, clock: ClockDep, body: BudgetUpdate, request: Request, response: Response
) -> BudgetRecord:
    """Record a budget value; outside floor..ceiling it is clamped and relabelled."""
    record = service.set_budget(session, clock, body)
    set_location(request, response, "get_budget_record", record_id=record["id"])
    return BudgetRecord.model_validate(record)


@router.post(
    "/adjustments",
    status_code=status.HTTP_201_CREATED,
    summary="Adjust the budget to an entropy",
    responses={**WRITE_PROBLEMS, **CREATED_AT_LOCATION},
)
def adjust_budget(
    session: DbSession,
    clock: ClockDep,
    body: BudgetAdjustmentRequest,
    request: Request,
    response: Response,
) -> BudgetRecord:
    """Initial budget on a job's first reading; then boost below the threshold, else decay."""
    record = service.adjust_budget(session, clock, body)
    set_location(request, response, "get_budget_record", record_id=record["id"])
    return BudgetRecord.model_validate(record)
