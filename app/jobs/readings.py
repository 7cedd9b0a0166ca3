"""Entropy readings: one measurement adjusts a job's budget under its policy and, when due,
runs its automatic entropy response.

`record_readings` is the one unit of work every reading goes through: the group-commit batcher
passes it every reading gathered in a millisecond, the route without group commit a batch of
one. In one transaction it claims the batch's idempotency keys, applies the readings (each
job's in order, on its chains, under its lock), stores or releases the keys, and commits; a
failure maps to one problem for every reading of the batch.
"""

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.budget import rules as budget_rules
from app.budget.chains import BudgetChains
from app.core import idempotency
from app.core.batcher import Batcher
from app.core.clock import Clock
from app.core.db import Database
from app.core.locking import LockedHead, drop_unused_heads, lock_jobs
from app.core.problems import (
    ValidationProblem,
    database_problem,
)
from app.core.settings import Settings
from app.core.telemetry import tally_of
from app.diversity.schemas import ReadingDiversity
from app.diversity.service import ReadingScopes
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


logger = structlog.stdlib.get_logger("app.readings")


@dataclass(frozen=True)
class Reading:
    job_hash: str
    entropy: float | None
    changes: PolicyChanges | None


@dataclass(frozen=True)
class Submission:
    """A reading as its request sent it: the caller (whose Idempotency-Keys are its own), the
    key if any, and the request id the logs name."""

    reading: Reading
    caller: str
    key: idempotency.RequestFingerprint | None
    request_id: str | None


Render = Callable[[ReadingResult], idempotency.StoredResponse]
"""The HTTP answer to an applied reading (the router's), stored with its key for replays."""
Answer = idempotency.StoredResponse | Exception


def record_readings(
    database: Database,
    settings: Settings,
    clock: Clock,
    render: Render,
    submissions: Sequence[Submission],
    *,
    batched: bool,
) -> list[Answer]:
    """Record a batch of readings in one transaction: each gets its answer, the response to
    send or the exception (a problem, or a replay) to answer with. When the transaction fails,
    nothing is written and every reading of the batch gets the same problem
    (`database_problem`: 409 for a constraint, 503 for an outage, else 500)."""
    started = time.perf_counter()
    try:
        with (
            database.writing_turn() as lock_deadline,
            database.session(write=True, lock_deadline=lock_deadline) as session,
        ):
            answers = _record(session, settings, clock, render, submissions)
            tally = tally_of(session)
            if batched and tally is not None:
                tally.reading_batches.append(len(submissions))
            session.commit()
    except Exception as error:
        _log_failure(error, submissions)
        return [database_problem(error) for _ in submissions]
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "reading batch committed",
            readings=len(submissions),
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            request_ids=[submission.request_id for submission in submissions],
        )
    return answers


def _record(
    session: Session,
    settings: Settings,
    clock: Clock,
    render: Render,
    submissions: Sequence[Submission],
) -> list[Answer]:
    """The steps of a batch, in its transaction (further per-batch steps belong here)."""
    keyed = [(submission.caller, submission.key) for submission in submissions]
    ttl = timedelta(seconds=settings.idempotency_ttl_seconds)
    claims = idempotency.claim_batch(session, keyed, clock(), ttl)
    running = [index for index in range(len(submissions)) if claims.runs(index)]
    results = apply_readings(
        session, settings, clock, [submissions[index].reading for index in running]
    )
    outcomes: dict[int, Answer] = {
        index: result if isinstance(result, Exception) else render(result)
        for index, result in zip(running, results, strict=True)
    }
    return idempotency.settle_batch(session, keyed, claims, outcomes)


def _log_failure(error: Exception, submissions: Sequence[Submission]) -> None:
    request_ids = [submission.request_id for submission in submissions]
    if isinstance(error, DBAPIError | PoolTimeoutError):
        logger.warning(
            "reading batch failed",
            error=type(error).__name__,
            readings=len(submissions),
            request_ids=request_ids,
        )
    else:
        logger.exception("reading batch failed", readings=len(submissions), request_ids=request_ids)


def apply_readings(
    session: Session, settings: Settings, clock: Clock, readings: Sequence[Reading]
) -> list[ReadingResult | ValidationProblem]:
    """Apply readings in order; a reading that cannot be applied gets its 422 and writes
    nothing, without failing the others."""
    jobs = sorted({reading.job_hash for reading in readings})
    heads = lock_jobs(session, jobs)
    batch = _Batch(session, heads, now=clock())
    policies = PolicyRepository(session).effective(heads, rules.default_policy(settings))
    scopes = ReadingScopes(session, batch.now)

    effective = [
        _effective_policy(reading, policies[reading.job_hash], scopes) for reading in readings
    ]
    scopes.measure_ahead(
        (reading.job_hash, policy.diversity)
        for reading, policy in zip(readings, effective, strict=True)
        if reading.entropy is None and isinstance(policy, Policy)
    )
    outcomes = [
        policy if isinstance(policy, ValidationProblem) else _apply(batch, scopes, reading, policy)
        for reading, policy in zip(readings, effective, strict=True)
    ]
    batch.flush()
    applied = (
        r.job_hash for r, o in zip(readings, outcomes, strict=True) if isinstance(o, ReadingResult)
    )
    drop_unused_heads(session, heads, applied)
    tally = tally_of(session)
    if tally is not None:
        tally.readings += sum(1 for outcome in outcomes if isinstance(outcome, ReadingResult))
    return outcomes


def _effective_policy(
    reading: Reading, policy: Policy, scopes: ReadingScopes
) -> Policy | ValidationProblem:
    """The job's policy with the reading's own changes, or the 422 they earn."""
    if reading.changes is None:
        return policy
    try:
        changed = reading.changes.apply_to(policy, location=("body", "policy"))
        scopes.check(changed.diversity)
    except ValidationProblem as problem:
        return problem
    return changed


def _apply(
    batch: "_Batch", scopes: ReadingScopes, reading: Reading, policy: Policy
) -> ReadingResult | ValidationProblem:
    """One reading on its job's chains; without an entropy, its policy scope's diversity."""
    if reading.entropy is not None:
        return batch.apply(reading.job_hash, reading.entropy, policy, None)
    try:
        measured = scopes.measure(reading.job_hash, policy.diversity)
    except ValidationProblem as problem:
        return problem
    return batch.apply(reading.job_hash, measured.diversity_index, policy, measured)


class _Batch:
    """The chains of the batch's (locked) jobs, and the time stamped on every new record."""

    def __init__(self, session: Session, heads: Mapping[str, LockedHead], *, now: datetime) -> None:
        self.session = session
        self.budgets = BudgetChains(session, heads)
        self.responses = ResponseChains(session, heads)
        self.now = now

    def apply(
        self, job_hash: str, entropy: float, policy: Policy, measured: ReadingDiversity | None
    ) -> ReadingResult:
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
            "diversity": measured,
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


ReadingsBatcher = Batcher[Submission, idempotency.StoredResponse]
"""The generic group-commit `Batcher`, of readings: a submission in, its response out."""
Record = Callable[[Submission], Awaitable[idempotency.StoredResponse]]
"""How a request records its reading: its response, or raises its problem (or replay)."""


def recording_alone(database: Database, settings: Settings, clock: Clock, render: Render) -> Record:
    """Without group commit: each reading is a batch of one, in a transaction of its own."""

    async def record(submission: Submission) -> idempotency.StoredResponse:
        (answer,) = await run_in_threadpool(
            record_readings, database, settings, clock, render, [submission], batched=False
        )
        if isinstance(answer, Exception):
            raise answer
        return answer

    return record


def readings_batcher(
    database: Database, settings: Settings, clock: Clock, render: Render
) -> ReadingsBatcher:
    """The process's group-commit batcher: one thread recording every reading gathered in a
    millisecond (`readings_batch_wait_ms`) as one batch, in one transaction."""

    def record(submissions: Sequence[Submission]) -> list[Answer]:
        return record_readings(database, settings, clock, render, submissions, batched=True)

    return Batcher(
        record,
        max_batch=settings.readings_batch_max,
        wait_seconds=settings.readings_batch_wait_ms / 1000,
        queue_size=settings.readings_queue_size,
        name="readings-batcher",
    )
