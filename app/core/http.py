"""Small HTTP helpers shared by the routers."""

import email.message
import json
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from app.core.problems import (
    DATABASE_RETRY_AFTER_SECONDS,
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPE_URI,
    field_error,
    validation_problem,
)
from app.core.schemas import IdentifierFilter


def set_location(request: Request, response: Response, route_name: str, **params: Any) -> None:
    """201 responses point at the resource they created."""
    response.headers["Location"] = str(request.app.url_path_for(route_name, **params))


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting that these statuses answer with a problem document."""
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: int) -> dict[str, Any]:
    description, problem_type, title, detail = _PROBLEMS[status]
    entry: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {
                    "type": PROBLEM_TYPE_URI.format(type=problem_type),
                    "title": title,
                    "status": status,
                    "detail": detail,
                },
            }
        },
    }
    if status == 503:
        entry["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "example": DATABASE_RETRY_AFTER_SECONDS},
            }
        }
    return entry


_PROBLEMS = {
    404: ("Not found", "not-found", "Not found", "No pattern 'reflect-then-act'."),
    406: (
        "Not acceptable: the Accept header accepts none of the media types offered",
        "not-acceptable",
        "Not acceptable",
        "Accept: image/png accepts none of application/json, text/csv, application/x-ndjson.",
    ),
    409: (
        "Conflict: the resource already exists, or a concurrent write conflicted (retry it)",
        "conflict",
        "Conflict",
        "Pattern 'reflect-then-act' already exists.",
    ),
    412: (
        "Precondition failed: If-Match does not name the current version",
        "precondition-failed",
        "Precondition failed",
        "The policy of 'job-42' is now \"3-9f2c41d07a3be115\"; fetch it and retry.",
    ),
    503: (
        "Database unavailable or busy; retry after the `Retry-After` seconds",
        "database-unavailable",
        "Database unavailable",
        "The database is unavailable or busy; retry shortly.",
    ),
}

DATABASE_PROBLEMS = problem_responses(503)
"""Every route that touches the database can answer 503 (declared once per router)."""

WRITE_PROBLEMS = problem_responses(409)
"""Every write can conflict with a concurrent one (a unique constraint): 409, retry it."""

JobHashQuery = Annotated[
    IdentifierFilter,
    Query(description="Filter by job; absent or empty means every job."),
]


Model = TypeVar("Model")


async def read_json_body(request: Request, adapter: TypeAdapter[Model]) -> Model:
    """Parse and validate a JSON body exactly as FastAPI does for a body parameter (same
    content-type rules, same errors), for routes that skip FastAPI's per-request machinery."""
    body = await request.body()
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    value: Any = body
    if _is_json(request.headers.get("content-type")):
        try:
            value = json.loads(body)
        except json.JSONDecodeError as error:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", error.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": error.msg},
                    }
                ]
            ) from error
        except UnicodeDecodeError:
            raise validation_problem(
                [field_error(("body",), "The body is not valid UTF-8 JSON", "json_invalid")]
            ) from None
    try:
        return adapter.validate_python(value, from_attributes=True)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False  # FastAPI's strict content type: no header, no JSON
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )
