"""The orchestrator path: per-job policy, readings and selections, each one transaction."""

import random
from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.budget.repository import BudgetRepository
from app.core.clock import Clock
from app.core.locking import lock_jobs
from app.core.pagination import PageRequest
from app.core.problems import ConflictProblem, PreconditionFailedProblem
from app.core.settings import Settings
from app.diversity import service as diversity
from app.jobs import rules
from app.jobs.repository import JobRepository, PolicyRepository, policy_of
from app.jobs.schemas import Policy, PolicyChanges, SelectionMode, SelectionRequest
from app.models import ExplorationBudget
from app.patterns import service as patterns
from app.patterns.repository import PatternRepository
from app.patterns.schemas import ApplicationCreate


def list_jobs(
    session: Session, page: PageRequest
) -> tuple[Sequence[ExplorationBudget], str | None]:
    return JobRepository(session).latest_budgets(page)


def get_policy(session: Session, settings: Settings, job_hash: str) -> tuple[Policy, str]:
    """The job's policy and its ETag; the server defaults (version 0) when it has none."""
    row = PolicyRepository(session).get(job_hash)
    if row is None:
        policy = rules.default_policy(settings)
        return policy, rules.policy_etag(0, policy)
    policy = policy_of(row)
    return policy, rules.policy_etag(row.version, policy)


def put_policy(
    session: Session,
    settings: Settings,
    clock: Clock,
    job_hash: str,
    changes: PolicyChanges,
    *,
    if_match: str | None,
) -> tuple[Policy, str]:
    """Replace the whole policy (absent fields take the server defaults)."""
    lock_jobs(session, [job_hash])
    _current, current_etag = get_policy(session, settings, job_hash)
    if not rules.if_match_allows(if_match, current_etag):
        raise PreconditionFailedProblem(
            f"The policy of {job_hash!r} is now {current_etag}; fetch it and retry."
        )
    policy = changes.apply_to(rules.default_policy(settings), location=("body",))
    diversity.require_registered(
        session, policy.diversity.half_life_seconds, ("body", "diversity", "half_life_seconds")
    )
    row = PolicyRepository(session).save(job_hash, policy, now=clock())
    return policy, rules.policy_etag(row.version, policy)


def select_pattern(
    session: Session, settings: Settings, clock: Clock, job_hash: str, body: SelectionRequest
) -> tuple[str, str, SelectionMode, float]:
    """Pick a pattern with the job's budget as the exploration probability, and record it."""
    latest = BudgetRepository(session).latest(job_hash=job_hash)
    policy = get_policy(session, settings, job_hash)[0]
    budget = latest.budget_value if latest is not None else policy.initial_budget

    if body.candidates is not None:
        patterns.require_known(
            session, body.candidates, lambda index: ("body", "candidates", index)
        )
    eligible = PatternRepository(session).candidates(body.candidates)
    if not eligible:
        raise ConflictProblem(
            "No eligible pattern: every candidate is retired or quarantined, or none exists."
        )
    weights = _scope_weights(session, job_hash, policy, [p.id for p in eligible])
    chosen, mode = rules.choose(
        [
            rules.Candidate(
                p.id, p.application_count, p.success_count, p.outcome_count, weights.get(p.id)
            )
            for p in eligible
        ],
        budget,
        random.Random(body.seed),
    )
    application = patterns.record(
        session,
        clock(),
        [
            (
                chosen.pattern_id,
                ApplicationCreate(
                    execution_id=body.execution_id, job_hash=job_hash, pattern_led_to_success=None
                ),
            )
        ],
    )[0]
    return chosen.pattern_id, application.id, mode, budget


def _scope_weights(
    session: Session, job_hash: str, policy: Policy, pattern_ids: list[str]
) -> dict[str, float]:
    """Each pattern's weight in the policy's diversity scope, for exploring; none for the
    global all-time scope (the patterns' own counts)."""
    if policy.diversity.scope == "global" and policy.diversity.half_life_seconds is None:
        return {}
    scope = diversity.policy_scope(job_hash, policy.diversity)
    return diversity.explore_keys(session, scope, pattern_ids)
