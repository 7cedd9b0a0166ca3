"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from rfc9457 import StatusProblem

from app.core.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_URI, PROBLEM_TYPES
from app.core.strict_query import StrictQueryRoute
from app.observability.metrics import CONTENT_TYPE, Metrics
from app.observability.readiness import ReadinessProbe

READINESS_RETRY_AFTER_SECONDS = 5

router = APIRouter(tags=["operations"], route_class=StrictQueryRoute)


class Health(BaseModel):
    """The process answers."""

    status: Literal["ok"] = Field(description="Always `ok`.")


class Ready(BaseModel):
    """The service can serve: the database answers and its schema is at the head."""

    status: Literal["ready"] = Field(description="Always `ready`.")
    revision: str = Field(description="The schema's Alembic revision, which is the head.")


NOT_READY = PROBLEM_TYPES["not-ready"]


class NotReadyProblem(StatusProblem):
    type_, title, status = NOT_READY.fields()


NOT_READY_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The database does not answer, or its schema is not at the head "
        "revision; `detail` says which, `revision` and `head` give the revisions.",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before asking again.",
                "schema": {"type": "integer", "example": READINESS_RETRY_AFTER_SECONDS},
            }
        },
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {"$ref": "#/components/schemas/NotReadyProblem"},
                "example": {
                    "type": PROBLEM_TYPE_URI.format(type=NOT_READY.type),
                    "title": NOT_READY.title,
                    "status": NOT_READY.status,
                    "detail": NOT_READY.example,
                    "revision": "0001",
                    "head": "0002",
                },
            }
        },
    }
}


HEALTHY = Health(status="ok").model_dump_json().encode()


@router.get("/healthz", summary="The process is up", response_model=Health)
async def get_health() -> Response:
    """Liveness: 200 whenever the process answers; it does not touch the database. Its
    answer never changes: sent as ready-made bytes, not serialised anew for every probe."""
    return Response(HEALTHY, media_type="application/json")


@router.get(
    "/readyz",
    summary="The database answers and its schema is at the migrations' head",
    responses=NOT_READY_RESPONSE,
)
async def get_readiness(request: Request) -> Ready:
    """200 when the service can serve: the database answers (within a few seconds) and its
    Alembic revision is exactly the head of the migrations this version ships. Otherwise 503."""
    probe: ReadinessProbe = request.app.state.readiness
    readiness = await probe.check()
    if not readiness.ready or readiness.revision is None:
        raise NotReadyProblem(
            readiness.detail,
            headers={"Retry-After": str(READINESS_RETRY_AFTER_SECONDS)},
            revision=readiness.revision,
            head=readiness.head,
        )
    return Ready(status="ready", revision=readiness.revision)


@router.get("/metrics", include_in_schema=False)
def get_metrics(request: Request) -> Response:
    """Prometheus text exposition: every worker's numbers added up."""
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})
