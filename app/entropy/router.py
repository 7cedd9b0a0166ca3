"""HTTP shape of pattern entropy (seed: calculate/record/history)."""

from typing import Annotated

from fastapi import Path, Query, Request, Response, status

from app.core.clock import ClockDep
from app.core.db import DbSession
from app.core.history import add_history_route
from app.core.http import (
    CREATED_AT_LOCATION,
    WRITE_PROBLEMS,
    JobHashQuery,
    problem_responses,
    set_location,
)
from app.core.problems import field_error, validation_problem
from app.core.repository import HistoryFilters
from app.core.routing import service_router
from app.core.schemas import Identifier, IdentifierFilter
from app.core.settings import MAX_HALF_LIFE_SECONDS
from app.diversity.schemas import Scope
from app.entropy import service
from app.entropy.schemas import (
    PatternEntropyMetrics,
    PatternEntropySnapshot,
    SnapshotRequest,
    SnapshotScopeFilter,
)

router = service_router("/v1/pattern-entropy", "pattern-entropy")

SnapshotId = Annotated[
    Identifier,
    Path(
        description="The snapshot's id (a UUID).", examples=["7c9e6679-7425-40de-944b-e07fc1f90ae7"]
    ),
]

AlertThreshold = Annotated[
    float | None,
    Query(
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Sets `threshold_exceeded` when diversity is below it.",
    ),
]


ScopeJobHash = Annotated[
    IdentifierFilter,
    Query(description="Measure this job's applications only; absent or empty: every job's."),
]
ScopeHalfLife = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_HALF_LIFE_SECONDS,
        description="Decay applications with this registered half-life (seconds); absent: "
        "all-time counts. One that is not registered is a 422 naming those that are.",
    ),
]
HistoryScope = Annotated[
    SnapshotScopeFilter | None,
    Query(
        description="`global`: only snapshots of every job's applications; `job`: only "
        "snapshots of one job's. Absent: every snapshot (or `job_hash`'s)."
    ),
]


@router.get("", summary="Current pattern diversity over a scope")
def get_pattern_entropy(
    session: DbSession,
    clock: ClockDep,
    alert_threshold: AlertThreshold = None,
    job_hash: ScopeJobHash = "",
    half_life_seconds: ScopeHalfLife = None,
) -> PatternEntropyMetrics:
    """The diversity of the pattern applications now, computed and not recorded (POST a
    snapshot to keep it): global and all-time unless a job or a half-life is given."""
    scope = Scope(job_hash=job_hash or None, half_life_seconds=half_life_seconds)
    return service.measure(session, clock, alert_threshold, scope)


@router.post(
    "/snapshots",
    status_code=status.HTTP_201_CREATED,
    summary="Record a diversity snapshot",
    responses={**WRITE_PROBLEMS, **CREATED_AT_LOCATION},
)
def record_pattern_entropy_snapshot(
    session: DbSession,
    clock: ClockDep,
    request: Request,
    response: Response,
    body: SnapshotRequest | None = None,
) -> PatternEntropySnapshot:
    """Compute the current diversity over a scope (absent: global, all-time) and keep it for
    trend analysis. The body is optional."""
    body = body or SnapshotRequest()
    scope = Scope(job_hash=body.job_hash, half_life_seconds=body.half_life_seconds)
    snapshot = service.record_snapshot(session, clock, body.alert_threshold, scope)
    set_location(request, response, "get_pattern_entropy_snapshot", snapshot_id=snapshot.id)
    return PatternEntropySnapshot.model_validate(snapshot)


def snapshot_filter(job_hash: JobHashQuery = "", scope: HistoryScope = None) -> HistoryFilters:
    """`job_hash` keeps one job's snapshots, `scope=global` only global ones (not both)."""
    if job_hash and scope == "global":
        raise validation_problem(
            [
                field_error(
                    ("query", "scope"),
                    "scope=global keeps only snapshots of every job; drop it or job_hash",
                    "scope_conflict",
                )
            ]
        )
    return {"job_hash": job_hash, "scope": scope}


add_history_route(
    router,
    service.SNAPSHOT_HISTORY,
    name="list_pattern_entropy_history",
    summary="Diversity snapshots, newest first",
    filters=snapshot_filter,
)


@router.get(
    "/snapshots/{snapshot_id}", summary="One diversity snapshot", responses=problem_responses(404)
)
def get_pattern_entropy_snapshot(
    session: DbSession, snapshot_id: SnapshotId
) -> PatternEntropySnapshot:
    """A diversity snapshot by its id."""
    return service.SNAPSHOT_HISTORY.get(session, snapshot_id)
