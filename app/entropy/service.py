"""Current pattern diversity and its snapshots."""

import dataclasses
import uuid

from sqlalchemy.orm import Session

from app.core.clock import Clock
from app.core.history import History
from app.core.telemetry import tally_of
from app.entropy import schemas
from app.entropy.repository import SnapshotRepository
from app.entropy.rules import Diversity, diversity
from app.entropy.schemas import PatternEntropyMetrics
from app.models import PatternEntropySnapshot
from app.patterns.repository import PatternRepository


def current_diversity(session: Session) -> Diversity:
    """Diversity from the maintained per-pattern counts; equal to a scan of every application."""
    population = diversity(PatternRepository(session).application_counts())
    tally = tally_of(session)
    if tally is not None:
        tally.diversity = population.diversity_index
    return population


def measure(session: Session, clock: Clock, alert_threshold: float | None) -> PatternEntropyMetrics:
    metrics = current_diversity(session)
    return PatternEntropyMetrics(
        calculated_at=clock(),
        threshold_exceeded=(
            alert_threshold is not None and metrics.diversity_index < alert_threshold
        ),
        **dataclasses.asdict(metrics),
    )


def record_snapshot(
    session: Session, clock: Clock, alert_threshold: float | None
) -> PatternEntropySnapshot:
    metrics = measure(session, clock, alert_threshold)
    snapshot = PatternEntropySnapshot(id=str(uuid.uuid4()), **metrics.model_dump())
    return SnapshotRepository(session).add(snapshot)


def get_snapshot(session: Session, snapshot_id: str) -> PatternEntropySnapshot:
    return SnapshotRepository(session).get_or_404(snapshot_id)


SNAPSHOT_HISTORY = History(
    repository=SnapshotRepository,
    record=schemas.PatternEntropySnapshot,
    page_model=schemas.PatternEntropySnapshotPage,
    name="pattern-entropy-history",
    plural="diversity snapshots",
    item="snapshot",
)
