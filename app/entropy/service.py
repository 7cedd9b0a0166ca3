"""Current pattern diversity and its snapshots."""

import dataclasses
import uuid

from sqlalchemy.orm import Session

from app.core.clock import Clock
from app.core.history import History
from app.diversity import service as diversity_service
from app.diversity.schemas import Scope
from app.entropy import schemas
from app.entropy.repository import SnapshotRepository
from app.entropy.schemas import PatternEntropyMetrics
from app.models import PatternEntropySnapshot


def measure(
    session: Session,
    clock: Clock,
    alert_threshold: float | None,
    scope: Scope,
    *,
    location: tuple[str, ...] = ("query",),
) -> PatternEntropyMetrics:
    """The scope's diversity now; a half-life that is not registered is a 422 at `location`."""
    diversity_service.require_registered(
        session, scope.half_life_seconds, (*location, "half_life_seconds")
    )
    calculated_at = clock()
    measured = diversity_service.measure(session, scope, calculated_at)
    return PatternEntropyMetrics(
        calculated_at=calculated_at,
        threshold_exceeded=(
            alert_threshold is not None and measured.metrics.diversity_index < alert_threshold
        ),
        scope=scope,
        weighted_applications=measured.weighted_applications,
        **dataclasses.asdict(measured.metrics),
    )


def record_snapshot(
    session: Session, clock: Clock, alert_threshold: float | None, scope: Scope
) -> PatternEntropySnapshot:
    metrics = measure(session, clock, alert_threshold, scope, location=("body",))
    snapshot = PatternEntropySnapshot(
        id=str(uuid.uuid4()),
        job_hash=scope.job_hash,
        half_life_seconds=scope.half_life_seconds,
        **metrics.model_dump(exclude={"scope"}),
    )
    return SnapshotRepository(session).add(snapshot)


SNAPSHOT_HISTORY = History(
    repository=SnapshotRepository,
    record=schemas.PatternEntropySnapshot,
    page_model=schemas.PatternEntropySnapshotPage,
    name="pattern-entropy-history",
    plural="diversity snapshots",
    item="snapshot",
)
