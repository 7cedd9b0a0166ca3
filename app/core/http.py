"""Small HTTP helpers shared by the routers."""

import json
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.routing import Route, Router

from app.core.problems import (
    DATABASE_RETRY_AFTER_SECONDS,
    NESTED_TOO_DEEPLY,
    PROBLEM_MEDIA_TYPE,
    PROBLEM_OF_STATUS,
    PROBLEM_TYPE_URI,
    body_problem,
)
from app.core.schemas import IdentifierFilter


def location(router: Router, route_name: str, **params: str) -> str:
    """The path of a resource, the `Location` of the write that created it. A route of the
    router itself is found by name and its template filled in: Starlette's `url_path_for`
    tries to build the path with every route in turn (once 7% of the readings writer's time);
    it still finds the routes of included routers."""
    for route in router.routes:
        if isinstance(route, Route) and route.name == route_name:
            return route.path_format.format(**params)
    return str(router.url_path_for(route_name, **params))


def set_location(request: Request, response: Response, route_name: str, **params: str) -> None:
    """201 responses point at the resource they created."""
    response.headers["Location"] = location(request.app.router, route_name, **params)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting that these statuses answer with a problem document."""
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: int) -> dict[str, Any]:
    problem = PROBLEM_OF_STATUS[status]
    entry: dict[str, Any] = {
        "description": problem.when,
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {
                    "type": PROBLEM_TYPE_URI.format(type=problem.type),
                    "title": problem.title,
                    "status": status,
                    "detail": problem.example,
                },
            }
        },
    }
    if status in _HEADERS:
        entry["headers"] = _HEADERS[status]
    return entry


_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "example": DATABASE_RETRY_AFTER_SECONDS},
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'The scheme to authenticate with: `Bearer realm="entropy-budget"`.',
            "schema": {"type": "string"},
        }
    },
    429: {"Retry-After": _RETRY_AFTER},
    503: {"Retry-After": _RETRY_AFTER},
}


DATABASE_PROBLEMS = problem_responses(503)
"""Every route that touches the database can answer 503 (declared once per router)."""

WRITE_PROBLEMS = problem_responses(409)
"""Every write can conflict with a concurrent one (a unique constraint): 409, retry it."""

CREATED_AT_LOCATION: dict[int | str, dict[str, Any]] = {
    201: {
        "headers": {
            "Location": {
                "description": "The path of what was created: GET it to read it back.",
                "schema": {"type": "string", "examples": ["/v1/patterns/reflect-then-act"]},
            }
        }
    }
}
"""The 201 of a creation that answers with `Location` (`set_location`)."""

VERSIONED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "ETag": {
                "description": "The version of what was returned; send it back in `If-Match` "
                "to change it only if nobody changed it in between (else 412).",
                "schema": {"type": "string", "examples": ['"3-9f2c41d07a3be115"']},
            }
        }
    }
}
"""The 200 of a representation that carries its version in `ETag`."""

JobHashQuery = Annotated[
    IdentifierFilter,
    Query(description="Filter by job; absent or empty means every job."),
]


Model = TypeVar("Model")
MISSING = object()
"""An empty request body: FastAPI reports it as a missing field when validating."""


async def parse_json_body(request: Request) -> Any:
    """The body as FastAPI reads it for a body parameter: JSON for a JSON content type (a
    decode error is raised at once), the raw bytes otherwise, MISSING when empty."""
    body = await request.body()
    if not body:
        return MISSING
    if not is_json_media_type(request.headers.get("content-type", "").encode("latin-1")):
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        # Reported as FastAPI reports it, then worded by `request_validation_problem`.
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": error.msg, "input": {}}]
        ) from error
    except RecursionError:
        raise body_problem(NESTED_TOO_DEEPLY) from None


def validate_body(value: Any, adapter: TypeAdapter[Model]) -> Model:
    """Validate a parsed body as FastAPI does: errors located under "body"."""
    if value is MISSING:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return adapter.validate_python(value, from_attributes=True)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


def is_json_media_type(content_type: bytes) -> bool:
    """application/json or application/*+json, whatever the parameters (charset...): the one
    "is this JSON?" of the service (raw header bytes: the content-type middleware runs it on
    every write). No header is no JSON, as FastAPI's strict content type has it."""
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type.startswith(b"application/") and (
        media_type == b"application/json" or media_type.endswith(b"+json")
    )
