"""Small HTTP helpers shared by the routers."""

import email.message
import json
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from app.core.problems import PROBLEM_MEDIA_TYPE, field_error, validation_problem
from app.core.schemas import IdentifierFilter


def set_location(request: Request, response: Response, route_name: str, **params: Any) -> None:
    """201 responses point at the resource they created."""
    response.headers["Location"] = str(request.app.url_path_for(route_name, **params))


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting that these statuses answer with a problem document."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Problem"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


_DESCRIPTIONS = {
    404: "Not found",
    409: "Conflict",
    503: "Database unavailable; retry after the `Retry-After` seconds",
}

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
