"""HTTP shape of patterns and their applications."""

from typing import Annotated

from fastapi import Path, Query, Request, Response, status

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

PatternId = Annotated[
    Identifier, Path(description="The pattern's id.", examples=["reflect-then-act"])
]
ApplicationId = Annotated[
    Identifier,
    Path(
        description="The application's id (a UUID).",
        examples=["9a4f3c2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"],
    ),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a pattern",
    responses={**WRITE_PROBLEMS, **CREATED_AT_LOCATION},
)
def create_pattern(
    session: DbSession, clock: ClockDep, body: PatternCreate, request: Request, response: Response
) -> PatternRecord:
    """A new pattern, with the id given or one made up; 409 when the id is taken."""
    pattern = service.create_pattern(session, clock, body)
    set_location(request, response, "get_pattern", pattern_id=pattern.id)
    return PatternRecord.model_validate(pattern)


@router.get("", summary="Patterns, most recently seen first")
def list_patterns(
    session: DbSession,
    page: PageParams,
    quarantine_status: Annotated[
        QuarantineStatus | None,
        Query(description="Only the patterns in this status; absent: every status."),
    ] = None,
) -> PatternPage:
    """A page of patterns, most recently seen (applied or created) first, optionally of one
    status."""
    patterns, next_cursor = service.list_patterns(session, quarantine_status, page)
    return PatternPage(
        items=[PatternRecord.model_validate(p) for p in patterns], next_cursor=next_cursor
    )


@router.get("/{pattern_id}", summary="One pattern", responses=problem_responses(404))
def get_pattern(session: DbSession, pattern_id: PatternId) -> PatternRecord:
    """A pattern by its id, with its counts of applications and successes."""
    return PatternRecord.model_validate(service.get_pattern(session, pattern_id))


@router.patch(
    "/{pattern_id}",
    summary="Change a pattern's quarantine status",
    responses=problem_responses(404, 409),
)
def update_pattern_status(
    session: DbSession, clock: ClockDep, pattern_id: PatternId, body: PatternStatusUpdate
) -> PatternRecord:
    """Move a pattern to another quarantine status; quarantining and validating stamp
    `quarantined_at` and `validated_at`."""
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
    pattern_id: PatternId,
    body: ApplicationCreate,
    request: Request,
    response: Response,
) -> ApplicationRecord:
    """Record that the pattern was applied in a run (with its outcome, or null until known);
    the pattern's counts and `last_seen` follow."""
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
    session: DbSession, application_id: ApplicationId, body: ApplicationOutcome
) -> ApplicationRecord:
    """Selections record applications with an unknown outcome; the caller reports it here."""
    return ApplicationRecord.model_validate(service.report_outcome(session, application_id, body))


@applications_router.get(
    "/{application_id}", summary="One pattern application", responses=problem_responses(404)
)
def get_pattern_application(session: DbSession, application_id: ApplicationId) -> ApplicationRecord:
    """An application by its id, as its creation's `Location` names it."""
    return ApplicationRecord.model_validate(service.get_application(session, application_id))
