"""Entropy readings: one measurement adjusts a job's budget under its policy and, when due,
runs its automatic entropy response.

`apply_readings` takes a batch: the HTTP route passes one reading, the group-commit writer
(`app.jobs.group_commit`) passes every reading gathered in a millisecond. Either way the
readings of a job are applied in order on its chains, under its lock, in one transaction.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.budget import rules as budget_rules
from app.budget.chains import BudgetChains
from app.core.clock import Clock
from app.core.locking import LockedHead, lock_jobs
from app.core.problems import ValidationProblem, field_error, validation_problem
from app.core.settings import Settings
from app.core.telemetry import tally_of
from app.entropy.service import current_diversity
from app.jobs import rules
from app.jobs.repository import PolicyRepository
from app.jobs.schemas import Policy, PolicyChanges, ReadingCheck, ReadingResult
from app.responses import rules as response_rules
from app.responses.chains import ResponseChains
from app.responses.schemas import TriggerContext
from app.responses.service import respond

DISABLED = ReadingCheck(
    needs_response=False,
    reason="Entropy responses are disabled for this job",
    status="disabled",
)


@dataclass(frozen=True)
class Reading:
    job_hash: str
    entropy: float | None
    changes: PolicyChanges | None


def apply_readings(
    session: Session, settings: Settings, clock: Clock, readings: Sequence[Reading]
) -> list[ReadingResult | ValidationProblem]:
    """Apply readings in order; a reading that cannot be applied gets its 422 and writes
    nothing, without failing the others."""
    jobs = sorted({reading.job_hash for reading in readings})
    heads = lock_jobs(session, jobs)
    batch = _Batch(session, heads, now=clock())
    policies = PolicyRepository(session).effective(heads, rules.default_policy(settings))
    diversity: float | ValidationProblem | None = None

    outcomes: list[ReadingResult | ValidationProblem] = []
    for reading in readings:
        policy = policies[reading.job_hash]
        entropy = reading.entropy
        try:
            if reading.changes is not None:
                policy = reading.changes.apply_to(policy, location=("body", "policy"))
            if entropy is None:
                diversity = _measured_diversity(session) if diversity is None else diversity
                if isinstance(diversity, ValidationProblem):
                    raise diversity
                entropy = diversity
        except ValidationProblem as problem:
            outcomes.append(problem)
            continue
        outcomes.append(batch.apply(reading.job_hash, entropy, policy))
    batch.flush()
    tally = tally_of(session)
    if tally is not None:
        tally.readings += sum(1 for outcome in outcomes if isinstance(outcome, ReadingResult))
    return outcomes


class _Batch:
    """The chains of the batch's (locked) jobs, and the time stamped on every new record."""

    def __init__(self, session: Session, heads: Mapping[str, LockedHead], *, now: datetime) -> None:
        self.session = session
        self.budgets = BudgetChains(session, heads)
        self.responses = ResponseChains(session, heads)
        self.now = now

    def apply(self, job_hash: str, entropy: float, policy: Policy) -> ReadingResult:
        adjustment = self.budgets.append(
            job_hash,
            budget_rules.adjust_for_entropy(
                self.budgets.current(job_hash), entropy, rules.adjustment_policy(policy)
            ),
            entropy_at_time=entropy,
            now=self.now,
        )
        result: dict[str, object] = {
            "adjustment": adjustment,
            "response": None,
            "budget": adjustment,
        }
        if not policy.response.enabled:
            return ReadingResult.model_validate({**result, "response_check": DISABLED})
        need = response_rules.evaluate_need(
            last_response_at=self.responses.last_response_at(job_hash),
            now=self.now,
            cooldown_seconds=policy.response.cooldown_seconds,
            entropy=entropy,
            threshold=policy.response.threshold,
        )
        result["response_check"] = ReadingCheck(
            needs_response=need.needs_response, reason=need.reason, status=need.status
        )
        if need.needs_response:
            trigger = TriggerContext(
                job_hash=job_hash,
                entropy_at_trigger=entropy,
                threshold_used=policy.response.threshold,
            )
            response, boost = respond(
                self.session,
                self.budgets,
                self.responses,
                trigger=trigger,
                config=rules.response_config(policy),
                now=self.now,
            )
            result |= {"response": response, "budget": boost or adjustment}
        return ReadingResult.model_validate(result)

    def flush(self) -> None:
        self.budgets.flush()
        self.responses.flush()


def _measured_diversity(session: Session) -> float | ValidationProblem:
    population = current_diversity(session)
    if population.effective_pattern_count == 0:
        return validation_problem(
            [
                field_error(
                    ("body", "entropy"),
                    "no entropy given and no pattern applications to measure diversity from",
                    "entropy_unavailable",
                )
            ]
        )
    return population.diversity_index
