"""HTTP shape of entropy responses (seed: check/trigger/last/history/statistics)."""

from typing import Annotated

from fastapi import Path, Query, Request, Response, status

from app.core import policy_defaults as defaults
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
from app.responses import service
from app.responses.schemas import (
    EntropyResponseRecord,
    ResponseCheck,
    ResponseStatistics,
    TriggerRequest,
)

router = service_router("/v1/entropy-responses", "entropy-responses")

ResponseId = Annotated[
    Identifier,
    Path(
        description="The entropy response's id (a UUID).",
        examples=["5d0c7f4e-2a1b-4c3d-9e8f-7a6b5c4d3e2f"],
    ),
]


@router.get("/check", summary="Is an entropy response needed for a job?")
def check_entropy_response(
    session: DbSession,
    clock: ClockDep,
    job_hash: Annotated[Identifier, Query(description="The job to check (required).")],
    entropy_threshold: Annotated[
        float,
        Query(
            ge=0.0,
            le=1.0,
            allow_inf_nan=False,
            description="A diversity strictly below this needs a response.",
        ),
    ] = defaults.DEFAULT_RESPONSE_THRESHOLD,
    cooldown_seconds: Annotated[
        int, Query(ge=0, description="Seconds after the job's last response when none is due.")
    ] = defaults.DEFAULT_COOLDOWN_SECONDS,
) -> ResponseCheck:
    """Whether an entropy response is due for the job now: its latest diversity against the
    threshold, and the cooldown since its last response. Nothing is written."""
    need = service.check_response_needed(
        session, clock, job_hash, entropy_threshold, cooldown_seconds
    )
    return ResponseCheck.model_validate(need, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Trigger an entropy response",
    responses={**WRITE_PROBLEMS, **CREATED_AT_LOCATION},
)
def trigger_entropy_response(
    session: DbSession, clock: ClockDep, body: TriggerRequest, request: Request, response: Response
) -> EntropyResponseRecord:
    """Boost the job's budget and send quarantined patterns back to pending, in one transaction.
    It does not consult the cooldown: that is the check's job."""
    record = service.trigger_response(session, clock, body.trigger, body.config)
    set_location(request, response, "get_entropy_response", response_id=record["id"])
    return EntropyResponseRecord.model_validate(record)


@router.get("/latest", summary="Most recent entropy response", responses=problem_responses(404))
def get_latest_entropy_response(
    session: DbSession, job_hash: JobHashQuery = ""
) -> EntropyResponseRecord:
    """The most recent entropy response of the job (or of every job); 404 when there is none."""
    return service.RESPONSE_HISTORY.latest(session, job_hash)


add_history_route(
    router,
    service.RESPONSE_HISTORY,
    name="list_entropy_response_history",
    summary="Entropy responses, newest first",
    filters=job_filter,
)


@router.get("/statistics", summary="Entropy response statistics")
def get_entropy_response_statistics(
    session: DbSession, job_hash: JobHashQuery = ""
) -> ResponseStatistics:
    """Counts and aggregates over the entropy responses of the job (or of every job)."""
    return service.response_statistics(session, job_hash)


@router.get("/{response_id}", summary="One entropy response", responses=problem_responses(404))
def get_entropy_response(session: DbSession, response_id: ResponseId) -> EntropyResponseRecord:
    """An entropy response by its id."""
    return service.RESPONSE_HISTORY.get(session, response_id)
