"""The one request path of readings: POST /v1/jobs/{job_hash}/entropy-readings, served in
front of FastAPI's router.

Readings are the one endpoint orchestrators call per measurement, by the thousand. FastAPI's
per-request machinery (route matching across every router, the dependency tree) costs more than
the reading itself once writes are batched: an ordinary `async def` route feeding the same
batcher served 0.69x (SQLite) and 0.77x (PostgreSQL) of this path's readings, measured in one
run (docs/architecture.md). So this ASGI layer matches the one path, checks the query, the
Idempotency-Key, the path and the body in FastAPI's order and with its errors
(`parse_json_body`, `validate_body`, the route's own pydantic types), and hands the reading to
`record` (the process's batcher, or a transaction of its own without group commit), which ends
in the one unit of work, `app.jobs.readings.record_readings`. Its problems are the exception
handlers' (`app.core.problems`). It sits inside every other middleware (auth, rate limit, size
limit, content type, UTF-8), so those apply unchanged. The route in `app.jobs.router` only
declares the operation for the OpenAPI document and the query check.
"""

import re
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from rfc9457 import Problem
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core import idempotency
from app.core.batcher import Overloaded
from app.core.http import parse_json_body, validate_body
from app.core.idempotency_http import replayed, request_fingerprint
from app.core.problems import (
    ServiceOverloadedProblem,
    problem_response,
    request_validation_problem,
)
from app.core.schemas import Identifier
from app.core.strict_query import check_query, query_parameters
from app.jobs.readings import Record
from app.jobs.router import readings_router, response_of, submission_of
from app.jobs.schemas import ReadingRequest

READINGS_PATH = re.compile(r"^/v1/jobs/([^/]+)/entropy-readings$")


@dataclass(frozen=True)
class RouteTemplate:
    """What FastAPI's router leaves in scope["route"] for the layers around it (metrics, logs):
    served here, the readings route is named by its template all the same."""

    path_format: str = "/v1/jobs/{job_hash}/entropy-readings"


READINGS_ROUTE = RouteTemplate()
JOB_HASH = TypeAdapter(Identifier)
READING_BODY = TypeAdapter(ReadingRequest)


def _declared_query() -> frozenset[str]:
    """The query parameters of the route this path stands in for (it refuses the others)."""
    (route,) = readings_router.routes
    assert isinstance(route, APIRoute)
    return query_parameters(route)


QUERY_PARAMETERS = _declared_query()


class ReadingsHotPath:
    def __init__(self, app: ASGIApp, record: Record) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = READINGS_PATH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = READINGS_ROUTE
        request = Request(scope, receive, send)
        try:
            response = await self._record(request, match.group(1))
        except RequestValidationError as error:
            response = problem_response(request_validation_problem(error))
        except idempotency.IdempotentReplay as replay:
            response = replayed(replay)
        except Problem as problem:
            response = problem_response(problem)
        await response(scope, receive, send)

    async def _record(self, request: Request, raw_job_hash: str) -> Response:
        check_query(request.scope["query_string"], QUERY_PARAMETERS)
        # As FastAPI: a body that is not JSON fails at once; then the Idempotency-Key (a
        # dependency of the route); then the path parameter and the body are validated, and
        # their errors reported together.
        value = await parse_json_body(request)
        key = await request_fingerprint(request)
        errors: list[Any] = []
        try:
            job_hash = JOB_HASH.validate_python(raw_job_hash)
        except ValidationError as error:
            errors += [{**e, "loc": ("path", "job_hash", *e["loc"])} for e in error.errors()]
        try:
            body = validate_body(value, READING_BODY)
        except RequestValidationError as invalid:
            raise RequestValidationError([*errors, *invalid.errors()]) from None
        if errors:
            raise RequestValidationError(errors)
        try:
            stored = await self.record(submission_of(request, job_hash, body, key))
        except Overloaded:
            raise ServiceOverloadedProblem(
                "Too many readings are waiting to be written; retry shortly.",
                headers={"Retry-After": "1"},
            ) from None
        return response_of(stored)
