"""HTTP shape of pattern entropy (seed: calculate/record/history)."""

from typing import Annotated

from fastapi import Query, Request, Response, status

from app.core.clock import ClockDep
from app.core.db import DbSession
from app.core.history import add_history_route
from app.core.http import WRITE_PROBLEMS, problem_responses, set_location
from app.core.routing import service_router
from app.core.schemas import Identifier
from app.entropy import service
from app.entropy.schemas import (
    PatternEntropyMetrics,
    PatternEntropySnapshot,
    SnapshotRequest,
)

router = service_router("/v1/pattern-entropy", "pattern-entropy")

AlertThreshold = Annotated[
    float | None,
    Query(
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Sets `threshold_exceeded` when diversity is below it.",
    ),
]


@router.get("", summary="Current pattern diversity")
def get_pattern_entropy(
    session: DbSession, clock: ClockDep, alert_threshold: AlertThreshold = None
) -> PatternEntropyMetrics:
    return service.measure(session, clock, alert_threshold)


@router.post(
    "/snapshots",
    status_code=status.HTTP_201_CREATED,
    summary="Record a diversity snapshot",
    responses=WRITE_PROBLEMS,
)
def record_pattern_entropy_snapshot(
    session: DbSession,
    clock: ClockDep,
    request: Request,
    response: Response,
    body: SnapshotRequest | None = None,
) -> PatternEntropySnapshot:
    """Compute the current diversity and keep it for trend analysis. The body is optional."""
    alert_threshold = None if body is None else body.alert_threshold
    snapshot = service.record_snapshot(session, clock, alert_threshold)
    set_location(request, response, "get_pattern_entropy_snapshot", snapshot_id=snapshot.id)
    return PatternEntropySnapshot.model_validate(snapshot)


add_history_route(
    router,
    service.SNAPSHOT_HISTORY,
    name="list_pattern_entropy_history",
    summary="Diversity snapshots, newest first",
)


@router.get(
    "/snapshots/{snapshot_id}", summary="One diversity snapshot", responses=problem_responses(404)
)
def get_pattern_entropy_snapshot(
    session: DbSession, snapshot_id: Identifier
) -> PatternEntropySnapshot:
    return PatternEntropySnapshot.model_validate(service.get_snapshot(session, snapshot_id))
