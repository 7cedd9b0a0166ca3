"""Current pattern diversity and its snapshots."""

import dataclasses
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.core.clock import Clock
from app.core.export import ExportQuery
from app.core.pagination import PageRequest, Position, TimeWindow
from app.core.problems import NotFoundProblem
from app.core.telemetry import tally_of
from app.entropy import schemas
from app.entropy.repository import SnapshotRepository, history_rows
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
    snapshot = SnapshotRepository(session).get(snapshot_id)
    if snapshot is None:
        raise NotFoundProblem(f"No pattern entropy snapshot {snapshot_id!r}.")
    return snapshot


def snapshot_history(
    session: Session, page: PageRequest, window: TimeWindow
) -> tuple[Sequence[PatternEntropySnapshot], str | None]:
    return SnapshotRepository(session).history(page, window)


def snapshot_export(after: Position | None, window: TimeWindow) -> ExportQuery:
    """The snapshots a streamed export of the history covers: every page's, from `after` on."""
    return ExportQuery(
        name="pattern-entropy-history",
        record=schemas.PatternEntropySnapshot,
        statement=history_rows(),
        at=PatternEntropySnapshot.calculated_at,
        seq=PatternEntropySnapshot.seq,
        after=after,
        window=window,
    )
