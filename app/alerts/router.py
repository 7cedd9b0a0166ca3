"""Alert rules over the budget statistics and the pattern diversity."""

from app.alerts import service
from app.alerts.schemas import AlertReport
from app.core.db import DbSession
from app.core.http import JobHashQuery
from app.core.routing import service_router

router = service_router("/v1/alerts", "alerts")


@router.get("", summary="Evaluate the alert rules")
def get_alerts(session: DbSession, job_hash: JobHashQuery = "") -> AlertReport:
    """Budget at its floor in more than 30% of adjustments; more than twice as many boosts as
    decays; one pattern holding more than half of all applications."""
    return service.evaluate(session, job_hash)
