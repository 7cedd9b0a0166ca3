"""Small HTTP helpers shared by the routers."""

from typing import Annotated, Any

from fastapi import Query, Request, Response

from app.core.problems import PROBLEM_MEDIA_TYPE
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
