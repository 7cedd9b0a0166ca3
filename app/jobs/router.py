"""HTTP shape of jobs: listing, policy, readings and selections."""

from typing import Annotated

from asgi_correlation_id.context import correlation_id
from fastapi import Header, Path, Request, Response, status

from app.budget.router import router as budget_router
from app.budget.schemas import BudgetRecord
from app.core.clock import ClockDep
from app.core.db import DbSession
from app.core.http import CREATED_AT_LOCATION, VERSIONED, location, problem_responses, set_location
from app.core.idempotency import RequestFingerprint, StoredResponse
from app.core.idempotency_http import caller_of
from app.core.pagination import PageParams
from app.core.routing import service_router
from app.core.schemas import Identifier
from app.core.settings import SettingsDep
from app.jobs import service
from app.jobs.readings import Reading, Submission
from app.jobs.schemas import (
    JobPage,
    JobSummary,
    Policy,
    PolicyChanges,
    ReadingRequest,
    ReadingResult,
    SelectionRequest,
    SelectionResult,
)

router = service_router("/v1/jobs", "jobs")

JobHash = Annotated[
    Identifier,
    Path(
        description="The job: 1-128 characters of letters, digits and `._:-`. It needs no "
        "creating: its first reading or selection starts it, and its policy has the server "
        "defaults until one is PUT.",
        examples=["job-42"],
    ),
]


@router.get("", summary="Jobs with a budget, most recently active first")
def list_jobs(session: DbSession, page: PageParams) -> JobPage:
    """A page of the jobs that have a budget, each with its latest budget record, most
    recently active first."""
    records, next_cursor = service.list_jobs(session, page)
    return JobPage(
        items=[
            JobSummary(job_hash=record.job_hash, budget=BudgetRecord.model_validate(record))
            for record in records
        ],
        next_cursor=next_cursor,
    )


@router.get(
    "/{job_hash}/policy",
    summary="A job's policy (the server defaults when it has none)",
    response_description="The policy; its version is in the ETag header.",
    responses=VERSIONED,
)
def get_job_policy(
    session: DbSession, settings: SettingsDep, job_hash: JobHash, response: Response
) -> Policy:
    """The job's policy: what it was given by PUT, or the server defaults. The ETag header is
    its version, for If-Match."""
    policy, etag = service.get_policy(session, settings, job_hash)
    response.headers["ETag"] = etag
    return policy


@router.put(
    "/{job_hash}/policy",
    summary="Replace a job's policy",
    responses={**problem_responses(409, 412), **VERSIONED},
)
def put_job_policy(
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    job_hash: JobHash,
    body: PolicyChanges,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",  # as HTTP spells it: generated clients name the header so
            description="The ETag this change is based on; a stale one is a 412.",
            examples=['"3-9f2c41d07a3be115"'],
        ),
    ] = None,
) -> Policy:
    """Absent fields take the server defaults; floor <= initial_budget <= ceiling."""
    policy, etag = service.put_policy(session, settings, clock, job_hash, body, if_match=if_match)
    response.headers["ETag"] = etag
    return policy


@router.post(
    "/{job_hash}/selections",
    status_code=status.HTTP_201_CREATED,
    summary="Pick a pattern for the job, exploring at the rate of its budget",
    responses={**problem_responses(409), **CREATED_AT_LOCATION},
)
def select_pattern(
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    job_hash: JobHash,
    body: SelectionRequest,
    request: Request,
    response: Response,
) -> SelectionResult:
    """Explore (the least-applied eligible pattern) with probability equal to the job's
    budget, else exploit (the best success rate among known outcomes); reproducible with
    `seed`. The pick is recorded as an application with an unknown outcome, to be reported
    with PATCH /v1/pattern-applications/{id}."""
    pattern_id, application_id, mode, budget = service.select_pattern(
        session, settings, clock, job_hash, body
    )
    set_location(request, response, "get_pattern_application", application_id=application_id)
    return SelectionResult(
        pattern_id=pattern_id, application_id=application_id, mode=mode, budget_value=budget
    )


# The readings operation, as the OpenAPI document shows it. Every reading is served by
# `app.jobs.hot_path` in front of the router (it measured faster than this route could be), so
# this endpoint never runs: it declares the path, the body and the answers.
readings_router = service_router("/v1/jobs", "jobs")


@readings_router.post(
    "/{job_hash}/entropy-readings",
    status_code=status.HTTP_201_CREATED,
    summary="Report one entropy measurement of a job",
    response_model=ReadingResult,
    responses={**problem_responses(409), **CREATED_AT_LOCATION},
)
def record_entropy_reading(job_hash: JobHash, body: ReadingRequest) -> ReadingResult:
    """In one transaction: adjust the budget under the job's policy, then check whether an
    entropy response is due (the reading against the response threshold, and the job's
    cooldown) and run it if so. Without `entropy`, the current pattern diversity is used."""
    raise RuntimeError("readings are served by app.jobs.hot_path, in front of the router")


def submission_of(
    request: Request, job_hash: str, body: ReadingRequest, key: RequestFingerprint | None
) -> Submission:
    return Submission(
        Reading(job_hash=job_hash, entropy=body.entropy, changes=body.policy),
        caller_of(request),
        key,
        correlation_id.get(),
    )


def reading_response(result: ReadingResult) -> StoredResponse:
    """A reading's 201: the result serialised once, by pydantic, and the Location of its
    adjustment (stored as is with an Idempotency-Key)."""
    return StoredResponse(
        status.HTTP_201_CREATED,
        result.model_dump_json().encode(),
        {"location": location(budget_router, "get_budget_record", record_id=result.adjustment.id)},
    )


def response_of(answer: StoredResponse) -> Response:
    """The HTTP response to a reading's answer (a problem or a replay was raised before, by
    `Record`, for the exception handlers to render)."""
    return Response(
        answer.body,
        status_code=answer.status_code,
        media_type="application/json",
        headers=dict(answer.headers),
    )
