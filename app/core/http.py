"""Small HTTP helpers shared by the routers."""

from typing import Annotated, Any

from fastapi import Query, Request, Response

from app.core.problems import DATABASE_RETRY_AFTER_SECONDS, PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_URI
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
    409: (
        "Conflict: the resource already exists, or a concurrent write conflicted (retry it)",
        "conflict",
        "Conflict",
        "Pattern 'reflect-then-act' already exists.",
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
