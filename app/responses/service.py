"""Entropy responses: the check, and the response itself in one transaction."""

from datetime import datetime

from sqlalchemy.orm import Session

from app.budget import rules as budget_rules
from app.budget.chains import BudgetChains, BudgetRow
from app.core.clock import Clock
from app.core.history import History
from app.core.locking import lock_jobs, lock_quarantine_revisits
from app.diversity.service import seed_diversity
from app.patterns import rules as pattern_rules
from app.patterns.repository import PatternRepository, Revisit
from app.responses import aggregates, rules
from app.responses.chains import ResponseChains, ResponseRow
from app.responses.repository import ResponseRepository
from app.responses.schemas import (
    EntropyResponsePage,
    EntropyResponseRecord,
    ResponseConfig,
    ResponseStatistics,
    TriggerContext,
)
from app.webhooks import outbox
from app.webhooks.schemas import StatusChange


def check_response_needed(
    session: Session, clock: Clock, job_hash: str, threshold: float, cooldown_seconds: int
) -> rules.ResponseNeed:
    last = ResponseRepository(session).latest(job_hash=job_hash)
    population = seed_diversity(session)
    return rules.evaluate_need(
        last_response_at=None if last is None else last.recorded_at,
        now=clock(),
        cooldown_seconds=cooldown_seconds,
        entropy=population.diversity_index if population.effective_pattern_count else None,
        threshold=threshold,
    )


def respond(
    session: Session,
    budgets: BudgetChains,
    responses: ResponseChains,
    *,
    trigger: TriggerContext,
    config: ResponseConfig,
    now: datetime,
) -> tuple[ResponseRow, BudgetRow | None]:
    """One entropy response on chains whose job is locked: boost the budget and revisit
    quarantined patterns, as configured. Returns the response and its budget record."""
    actions: list[str] = []
    boost: BudgetRow | None = None
    if config.boost_budget:
        boost = budgets.append(
            trigger.job_hash,
            budget_rules.boost_for_response(
                budgets.current(trigger.job_hash),
                config.budget_boost_amount,
                trigger.entropy_at_trigger,
                trigger.threshold_used,
                config.bounds,
            ),
            entropy_at_time=trigger.entropy_at_trigger,
            now=now,
        )
        actions.append("budget_boost")
    revisited: list[Revisit] = []
    if config.revisit_quarantine and config.max_quarantine_revisits > 0:
        lock_quarantine_revisits(session)
        revisited = PatternRepository(session).revisit_quarantined(
            config.max_quarantine_revisits, rules.REVISIT_REASON
        )
        if revisited:
            actions.append("quarantine_revisit")
    response = responses.append(
        trigger.job_hash,
        entropy_at_trigger=trigger.entropy_at_trigger,
        threshold_used=trigger.threshold_used,
        actions_taken=actions,
        budget_boosted=config.boost_budget,
        patterns_revisited=[revisit.pattern_id for revisit in revisited],
        now=now,
    )
    _record_webhook_events(session, response, revisited)
    return response, boost


def _record_webhook_events(
    session: Session, response: ResponseRow, revisited: list[Revisit]
) -> None:
    """The response's webhook events, in its transaction (the outbox): the response itself and
    each pattern it sent back to pending."""
    changes = [
        StatusChange(
            pattern_id=revisit.pattern_id,
            old_status=pattern_rules.REVISITED_STATUS,
            new_status=pattern_rules.REVISIT_STATUS,
            cause="response",
            response_id=response["id"],
            sequence=revisit.status_sequence,
        )
        for revisit in revisited
    ]
    outbox.record_response(
        session,
        EntropyResponseRecord.model_validate(response).model_dump(mode="json"),
        changes,
        occurred_at=response["recorded_at"],
    )


def trigger_response(
    session: Session, clock: Clock, trigger: TriggerContext, config: ResponseConfig
) -> ResponseRow:
    """An explicit response; it does not consult the cooldown (that is the check's job)."""
    heads = lock_jobs(session, [trigger.job_hash])
    budgets = BudgetChains(session, heads)
    responses = ResponseChains(session, heads)
    response, _boost = respond(
        session, budgets, responses, trigger=trigger, config=config, now=clock()
    )
    budgets.flush()
    responses.flush()
    return response


RESPONSE_HISTORY = History(
    repository=ResponseRepository,
    record=EntropyResponseRecord,
    page_model=EntropyResponsePage,
    name="entropy-responses-history",
    plural="entropy responses",
    item="response",
)


def response_statistics(session: Session, job_hash: str | None) -> ResponseStatistics:
    """From the maintained aggregates (`app.responses.aggregates`): the job's whole life."""
    figures = aggregates.statistics(session, job_hash)
    if figures is None:
        return ResponseStatistics(
            total_responses=0,
            avg_entropy_at_trigger=0.0,
            budget_boosts=0,
            quarantine_revisits=0,
            last_response=None,
        )
    return ResponseStatistics.model_validate(figures)
