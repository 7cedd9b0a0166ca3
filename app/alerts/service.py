"""The alert rules evaluated over a job's budget statistics and the current diversity."""

import dataclasses

from sqlalchemy.orm import Session

from app.alerts import rules
from app.alerts.schemas import AlertReport, AlertState
from app.budget.service import budget_statistics
from app.diversity.service import seed_diversity


def evaluate(session: Session, job_hash: str | None) -> AlertReport:
    statistics = budget_statistics(session, job_hash)
    alerts = [
        rules.floor_pressure(statistics.floor_enforcements, statistics.total_adjustments),
        rules.boost_pressure(statistics.boost_count, statistics.decay_count),
        rules.dominant_pattern(seed_diversity(session).dominant_pattern_share),
    ]
    return AlertReport(
        job_hash=job_hash or None,
        firing=sum(alert.firing for alert in alerts),
        alerts=[AlertState.model_validate(dataclasses.asdict(alert)) for alert in alerts],
    )
