"""Alert rules over the budget statistics and the pattern diversity."""

import dataclasses

from fastapi import APIRouter

from app.alerts import rules
from app.alerts.schemas import AlertReport, AlertState
from app.budget.service import budget_statistics
from app.core.db import DbSession
from app.core.http import DATABASE_PROBLEMS, JobHashQuery
from app.entropy.service import current_diversity

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=DATABASE_PROBLEMS)


@router.get("", summary="Evaluate the alert rules")
def get_alerts(session: DbSession, job_hash: JobHashQuery = "") -> AlertReport:
    """Budget at its floor in more than 30% of adjustments; more than twice as many boosts as
    decays; one pattern holding more than half of all applications."""
    statistics = budget_statistics(session, job_hash)
    alerts = [
        rules.floor_pressure(statistics.floor_enforcements, statistics.total_adjustments),
        rules.boost_pressure(statistics.boost_count, statistics.decay_count),
        rules.dominant_pattern(current_diversity(session).dominant_pattern_share),
    ]
    return AlertReport(
        job_hash=job_hash or None,
        firing=sum(alert.firing for alert in alerts),
        alerts=[AlertState.model_validate(dataclasses.asdict(alert)) for alert in alerts],
    )
