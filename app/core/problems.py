"""RFC 9457 problem details for every error the service returns.

fastapi-problem renders problems and converts FastAPI's own exceptions; this module adds the
service's problem types, a validation handler that always says what was wrong in `detail`,
and the mapping of database outages to 503 with `Retry-After`.
"""

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_problem.handler import add_exception_handler, new_exception_handler
from pydantic import ValidationError
from rfc9457 import Problem, StatusProblem
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

from app.core.methods import METHODS

PROBLEM_TYPE_URI = "urn:entropy-budget:problem:{type}"
PROBLEM_MEDIA_TYPE = "application/problem+json"
DATABASE_RETRY_AFTER_SECONDS = 2

logger = logging.getLogger("app.problems")


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: what its documents say (status, type, title), and what the OpenAPI
    document shows of it (when it happens, and an example `detail`)."""

    status: int
    type: str
    title: str
    when: str
    example: str

    def fields(self) -> tuple[str, str, int]:
        """type_, title and status, as an rfc9457 StatusProblem class declares them."""
        return self.type, self.title, self.status


PROBLEM_TYPES = {
    problem.type: problem
    for problem in (
        ProblemType(
            400,
            "bad-request",
            "Bad request",
            "The request cannot be read",
            "There was an error parsing the request.",
        ),
        ProblemType(
            401,
            "unauthorized",
            "Unauthorized",
            "No API key, or an unknown or revoked one (once the server has API keys)",
            "This request needs an API key: send `Authorization: Bearer <key>`.",
        ),
        ProblemType(
            403,
            "forbidden",
            "Forbidden",
            "The API key has the read scope; writes need the write scope",
            "This API key has the read scope; writes need a key with the write scope.",
        ),
        ProblemType(404, "not-found", "Not found", "Not found", "No pattern 'reflect-then-act'."),
        ProblemType(
            405,
            "method-not-allowed",
            "Method not allowed",
            "The path does not take this method; `Allow` lists those it takes",
            "DELETE is not allowed here; use GET, HEAD.",
        ),
        ProblemType(
            406,
            "not-acceptable",
            "Not acceptable",
            "Not acceptable: the Accept header accepts none of the media types offered",
            "Accept: image/png accepts none of application/json, text/csv, application/x-ndjson.",
        ),
        ProblemType(
            409,
            "conflict",
            "Conflict",
            "Conflict: the resource already exists, or a concurrent write conflicted (retry it)",
            "Pattern 'reflect-then-act' already exists.",
        ),
        ProblemType(
            412,
            "precondition-failed",
            "Precondition failed",
            "Precondition failed: If-Match does not name the current version",
            "The policy of 'job-42' is now \"3-9f2c41d07a3be115\"; fetch it and retry.",
        ),
        ProblemType(
            413,
            "content-too-large",
            "Content too large",
            "The request body is larger than the server accepts (1 MiB)",
            "The request body exceeds 1048576 bytes.",
        ),
        ProblemType(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "The request body is not JSON (application/json or application/*+json)",
            "The request body has Content-Type 'text/plain'; send JSON as application/json.",
        ),
        ProblemType(
            422,
            "validation-error",
            "Request validation failed",
            "The request is invalid; `errors` lists each field and what is wrong with it",
            "body.entropy: Input should be less than or equal to 1",
        ),
        ProblemType(
            429,
            "too-many-requests",
            "Too many requests",
            "Too many requests from this caller; retry after the `Retry-After` seconds",
            "More than 6000 requests in 1 minute from this caller; retry after 12 s.",
        ),
        ProblemType(
            500,
            "internal-error",
            "Internal server error",
            "The server failed; the error is in its log, never in the response",
            "The server failed to handle the request; it has been logged.",
        ),
        ProblemType(
            503,
            "database-unavailable",
            "Database unavailable",
            "Database unavailable or busy; retry after the `Retry-After` seconds",
            "The database is unavailable or busy; retry shortly.",
        ),
        ProblemType(
            503,
            "overloaded",
            "Service overloaded",
            "Too much work is waiting; retry after the `Retry-After` seconds",
            "Too many readings are waiting to be written; retry shortly.",
        ),
        ProblemType(
            503,
            "not-ready",
            "Not ready",
            "The database does not answer, or its schema is not at the head revision",
            "schema at 0001, head is 0002",
        ),
    )
}
"""Every problem the service answers with, once."""

PROBLEM_OF_STATUS = {problem.status: problem for problem in reversed(PROBLEM_TYPES.values())}
"""The problem a bare status stands for: the first of its types above (built in reverse, so
the first overwrites the later ones; 503 is the database's)."""


class NotFoundProblem(StatusProblem):
    type_, title, status = PROBLEM_TYPES["not-found"].fields()


class ConflictProblem(StatusProblem):
    type_, title, status = PROBLEM_TYPES["conflict"].fields()


class NotAcceptableProblem(StatusProblem):
    type_, title, status = PROBLEM_TYPES["not-acceptable"].fields()


class PreconditionFailedProblem(StatusProblem):
    type_, title, status = PROBLEM_TYPES["precondition-failed"].fields()


class ValidationProblem(StatusProblem):
    type_, title, status = PROBLEM_TYPES["validation-error"].fields()


class DatabaseUnavailableProblem(StatusProblem):
    type_, title, status = PROBLEM_TYPES["database-unavailable"].fields()


class ServiceOverloadedProblem(StatusProblem):
    type_, title, status = PROBLEM_TYPES["overloaded"].fields()


class InternalErrorProblem(StatusProblem):
    """Wraps unhandled exceptions; their text stays in the log, never in the response."""

    type_, title, status = PROBLEM_TYPES["internal-error"].fields()

    def __init__(self, _detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(PROBLEM_TYPES["internal-error"].example, **kwargs)


def field_error(loc: Sequence[str | int], msg: str, error_type: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": error_type}


MAX_LISTED_ERRORS = 100
"""A 422 lists at most this many field errors: a hostile body with 100,000 unknown fields would
otherwise be answered with a 100,000-entry document (several MB for a 1 MiB request)."""


def validation_problem(errors: list[dict[str, Any]]) -> ValidationProblem:
    """A 422 whose `detail` names the failing fields, and `errors` lists them one by one (the
    first MAX_LISTED_ERRORS of them; `detail` then says how many there were)."""
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    if len(errors) > 5:
        summary += f"; and {len(errors) - 5} more"
    if len(errors) > MAX_LISTED_ERRORS:
        summary += f" ({len(errors)} errors, the first {MAX_LISTED_ERRORS} listed)"
    return ValidationProblem(summary, errors=errors[:MAX_LISTED_ERRORS])


def validation_problem_from(
    error: ValidationError, prefix: Sequence[str | int]
) -> ValidationProblem:
    """A 422 for a model validated by the service rather than by FastAPI (e.g. merged policies)."""
    return validation_problem(
        [field_error((*prefix, *e["loc"]), e["msg"], e["type"]) for e in error.errors()]
    )


def _request_validation(
    _handler: object, _request: Request, exc: RequestValidationError
) -> Problem:
    return request_validation_problem(exc)


def request_validation_problem(exc: RequestValidationError) -> ValidationProblem:
    """FastAPI's validation errors as our 422 (also used where FastAPI is bypassed)."""
    if isinstance(exc.__cause__, json.JSONDecodeError):
        return body_problem(json_decode_message(exc.__cause__))
    errors = [
        field_error(tuple(error.get("loc", ())), str(error.get("msg", "")), str(error["type"]))
        for error in exc.errors()
    ]
    return validation_problem(errors)


def json_decode_message(error: json.JSONDecodeError) -> str:
    """Where the body stops being JSON, as an editor counts (FastAPI's own error says
    `body.45: JSON decode error`, a character offset nobody reads as one)."""
    return f"Invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"


NOT_UTF8_JSON = "The body is not valid UTF-8 JSON"
NESTED_TOO_DEEPLY = "The JSON body is nested too deeply"


def body_problem(message: str) -> ValidationProblem:
    """A 422 for a body that is not readable JSON at all (so no field can be named)."""
    return validation_problem([field_error(("body",), message, "json_invalid")])


def _http_exception(_handler: object, request: Request, exc: HTTPException) -> Problem:
    # FastAPI answers a body its JSON parser raised on (other than a JSONDecodeError) with a
    # 400 "There was an error parsing the body"; the contract makes an unreadable body a 422.
    # (A body that is not UTF-8 never gets here: the Utf8JsonBody middleware answers it.)
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        return body_problem(NESTED_TOO_DEEPLY)
    if exc.status_code == 405:
        allowed = ", ".join(allowed_methods(request))
        return http_problem(
            405, f"{request.method} is not allowed here; use {allowed}.", {"Allow": allowed}
        )
    return http_problem(exc.status_code, str(exc.detail), exc.headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's 405 names only the methods of
    the first route matching the path, and GET and POST of one path are often two routes."""
    routes = request.app.router.routes
    allowed = []
    for method in METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in routes):
            allowed.append(method)
    return allowed


def http_problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Problem:
    """The problem for a plain HTTP error status (404 route, 405, 413, 415...)."""
    known = PROBLEM_OF_STATUS.get(status)
    return Problem(
        title=known.title if known else "HTTP error",
        type_=known.type if known else "http-error",
        detail=detail,
        status=status,
        headers=dict(headers) if headers else None,
    )


def problem_response(problem: Problem) -> JSONResponse:
    """Render a problem outside the exception handlers (e.g. in middleware), identically."""
    return JSONResponse(
        problem.marshal(uri=PROBLEM_TYPE_URI),
        status_code=problem.status,
        headers={**(problem.headers or {}), "content-type": PROBLEM_MEDIA_TYPE},
    )


def _database_error(_handler: object, _request: Request, exc: Exception) -> Problem:
    return database_problem(exc)


def database_problem(exc: Exception) -> Problem:
    """The one mapping of database errors, for the exception handlers and the readings writer
    alike: a constraint a concurrent write won is a 409 (retry it), an outage or a busy pool a
    503 with Retry-After, anything else a 500."""
    if isinstance(exc, IntegrityError):
        return ConflictProblem("The request conflicts with data written concurrently; retry it.")
    if isinstance(exc, OperationalError | PoolTimeoutError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return DatabaseUnavailableProblem(
            "The database is unavailable or busy; retry shortly.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    return InternalErrorProblem()


def install_problem_handlers(app: FastAPI) -> None:
    handler = new_exception_handler(
        logger=logging.getLogger("app.errors"),
        unhandled_wrappers={"default": InternalErrorProblem},
        handlers={
            DBAPIError: _database_error,
            PoolTimeoutError: _database_error,
        },
        http_exception_handler=_http_exception,
        request_validation_handler=_request_validation,
        documentation_uri_template=PROBLEM_TYPE_URI,
    )
    add_exception_handler(app, handler, generic_swagger_defaults=True)
    # Handled in the exception middleware rather than the server-error one, so an outage is an
    # ordinary 503 response and not an exception that escapes the application.
    app.add_exception_handler(DBAPIError, handler)
    app.add_exception_handler(PoolTimeoutError, handler)
