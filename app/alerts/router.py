"""Alert rules over the budget statistics and the pattern diversity."""

import dataclasses

from app.alerts import rules
from app.alerts.schemas import AlertReport, AlertState
from app.budget.service import budget_statistics
from app.core.db import DbSession
from app.core.http import JobHashQuery
from app.core.routing import service_router
from app.entropy.service import current_diversity

router = service_router("/v1/alerts", "alerts")


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
