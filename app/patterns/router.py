"""HTTP shape of patterns and their applications."""

from typing import Annotated

from fastapi import Query, Request, Response, status

from app.core.clock import ClockDep
from app.core.db import DbSession
from app.core.http import (
    CREATED_AT_LOCATION,
    WRITE_PROBLEMS,
    problem_responses,
    set_location,
)
from app.core.pagination import PageParams
from app.core.routing import service_router
from app.core.schemas import Identifier
from app.patterns import service
from app.patterns.rules import QuarantineStatus
from app.patterns.schemas import (
    ApplicationBatch,
    ApplicationBatchCreate,
    ApplicationCreate,
    ApplicationOutcome,
    ApplicationRecord,
    PatternCreate,
    PatternPage,
    PatternRecord,
    PatternStatusUpdate,
)

router = service_router("/v1/patterns", "patterns")
applications_router = service_router("/v1/pattern-applications", "patterns")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a pattern",
    responses={**WRITE_PROBLEMS, **CREATED_AT_LOCATION},
)
def create_pattern(
    session: DbSession, clock: ClockDep, body: PatternCreate, request: Request, response: Response
) -> PatternRecord:
    pattern = service.create_pattern(session, clock, body)
    set_location(request, response, "get_pattern", pattern_id=pattern.id)
    return PatternRecord.model_validate(pattern)


@router.get("", summary="Patterns, most recently seen first")
def list_patterns(
    session: DbSession,
    page: PageParams,
    quarantine_status: Annotated[QuarantineStatus | None, Query()] = None,
) -> PatternPage:
    patterns, next_cursor = service.list_patterns(session, quarantine_status, page)
    return PatternPage(
        items=[PatternRecord.model_validate(p) for p in patterns], next_cursor=next_cursor
    )


@router.get("/{pattern_id}", summary="One pattern", responses=problem_responses(404))
def get_pattern(session: DbSession, pattern_id: Identifier) -> PatternRecord:
    return PatternRecord.model_validate(service.get_pattern(session, pattern_id))


@router.patch(
    "/{pattern_id}",
    summary="Change a pattern's quarantine status",
    responses=problem_responses(404, 409),
)
def update_pattern_status(
    session: DbSession, clock: ClockDep, pattern_id: Identifier, body: PatternStatusUpdate
) -> PatternRecord:
    return PatternRecord.model_validate(service.update_status(session, clock, pattern_id, body))


@router.post(
    "/{pattern_id}/applications",
    status_code=status.HTTP_201_CREATED,
    summary="Record one application of a pattern",
    responses={**problem_responses(404, 409), **CREATED_AT_LOCATION},
)
def record_pattern_application(
    session: DbSession,
    clock: ClockDep,
    pattern_id: Identifier,
    body: ApplicationCreate,
    request: Request,
    response: Response,
) -> ApplicationRecord:
    application = service.record_application(session, clock, pattern_id, body)
    set_location(request, response, "get_pattern_application", application_id=application.id)
    return ApplicationRecord.model_validate(application)


@applications_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Record a batch of applications",
    responses=WRITE_PROBLEMS,
)
def record_pattern_applications(
    session: DbSession, clock: ClockDep, body: ApplicationBatchCreate
) -> ApplicationBatch:
    """All or nothing: an unknown pattern id anywhere in the batch is a 422 naming it."""
    applications = service.record_applications(session, clock, body)
    return ApplicationBatch(items=[ApplicationRecord.model_validate(a) for a in applications])


@applications_router.patch(
    "/{application_id}",
    summary="Report the outcome of an application",
    responses=problem_responses(404, 409),
)
def report_pattern_application_outcome(
    session: DbSession, application_id: Identifier, body: ApplicationOutcome
) -> ApplicationRecord:
    """Selections record applications with an unknown outcome; the caller reports it here."""
    return ApplicationRecord.model_validate(service.report_outcome(session, application_id, body))


@applications_router.get(
    "/{application_id}", summary="One pattern application", responses=problem_responses(404)
)
def get_pattern_application(session: DbSession, application_id: Identifier) -> ApplicationRecord:
    return ApplicationRecord.model_validate(service.get_application(session, application_id))
