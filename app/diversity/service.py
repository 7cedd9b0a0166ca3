"""Diversity over scopes: recording applications' weights, measuring a scope, and the
registered half-lives (register and fill, drop).

Every writer of applications calls `record_applications` in its transaction, after the
pattern rows (lock order: jobs, the revisit lock, patterns by id, then these rows by key)."""

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.core.clock import Clock
from app.core.db import Database
from app.core.problems import ValidationProblem, field_error, validation_problem
from app.core.telemetry import tally_of
from app.diversity import rules
from app.diversity.repository import GLOBAL_SCOPE_KEY, DiversityRepository
from app.diversity.schemas import DiversityPolicy, ReadingDiversity, Scope
from app.entropy.rules import Diversity
from app.models import JobHead, JobPolicy
from app.patterns.repository import PatternRepository

logger = structlog.stdlib.get_logger("app.diversity")


def record_applications(
    session: Session, applied_at: datetime, applications: Sequence[tuple[str | None, str]]
) -> None:
    """Count and weigh a batch of applications (job_hash, pattern_id), all applied at
    `applied_at`, in every scope they belong to and for every registered half-life."""
    DiversityRepository(session).record(Counter(applications), rules.microseconds(applied_at))


def measure(session: Session, scope: Scope, at: datetime) -> rules.ScopeDiversity:
    """The scope's diversity at `at` (the half-life, if any, is registered: see
    `require_registered`). O(patterns in scope)."""
    return measure_scopes(session, [scope], at)[scope]


def measure_scopes(
    session: Session, scopes: Collection[Scope], at: datetime
) -> dict[Scope, rules.ScopeDiversity]:
    """Each scope's diversity at `at`: the jobs' counts in one query, each half-life's
    weights in one more and the global totals once, however many scopes (a batch of readings
    measures many at once). O(patterns in the scopes)."""
    repository = DiversityRepository(session)
    counts = repository.job_counts({s.job_hash for s in scopes if s.job_hash is not None})
    global_totals = (
        repository.pattern_totals()
        if any(s.job_hash is None and s.half_life_seconds is not None for s in scopes)
        else (0, 0)  # not read: no scope is global with a half-life
    )
    weights = {
        half_life: repository.weights(
            {s.job_hash for s in scopes if s.half_life_seconds == half_life}, half_life
        )
        for half_life in {s.half_life_seconds for s in scopes if s.half_life_seconds is not None}
    }
    measured: dict[Scope, rules.ScopeDiversity] = {}
    for scope in scopes:
        if scope.job_hash is None:
            if scope.half_life_seconds is None:
                seed = seed_diversity(session)
                measured[scope] = rules.ScopeDiversity(seed, float(seed.total_applications))
                continue
            unique, total = global_totals
        else:
            job_counts = counts[scope.job_hash]
            if scope.half_life_seconds is None:
                # In pattern id order, the order the global scan sums in.
                ordered = [job_counts[pattern_id] for pattern_id in sorted(job_counts)]
                measured[scope] = rules.all_time_diversity(ordered)
                continue
            unique, total = len(job_counts), sum(job_counts.values())
        measured[scope] = rules.decayed_diversity(
            weights[scope.half_life_seconds][scope.job_hash],
            half_life_seconds=scope.half_life_seconds,
            at_us=rules.microseconds(at),
            total_applications=total,
            unique_pattern_count=unique,
        )
    return measured


def seed_diversity(session: Session) -> Diversity:
    """The seed's diversity (every job, all-time) from the maintained per-pattern counts;
    equal to a scan of every application. /metrics shows the last one computed."""
    population = rules.all_time_diversity(PatternRepository(session).application_counts()).metrics
    tally = tally_of(session)
    if tally is not None:
        tally.diversity = population.diversity_index
    return population


def explore_keys(session: Session, scope: Scope, pattern_ids: Sequence[str]) -> dict[str, float]:
    """A number per pattern ordered as its weight in the scope (the least is explored):
    all-time counts, or log2 of the decayed weight up to a shared constant."""
    repository = DiversityRepository(session)
    if scope.half_life_seconds is None:
        if scope.job_hash is None:
            raise ValueError("the global all-time scope explores by the patterns' own counts")
        counts = repository.job_counts([scope.job_hash])[scope.job_hash]
        return {p: float(counts.get(p, 0)) for p in pattern_ids}
    keys = rules.explore_keys(
        repository.weights([scope.job_hash], scope.half_life_seconds)[scope.job_hash],
        half_life_seconds=scope.half_life_seconds,
    )
    return {p: keys.get(p, float("-inf")) for p in pattern_ids}


def unregistered(
    half_life_seconds: int, registered: Sequence[int], location: Sequence[str | int]
) -> ValidationProblem:
    names = ", ".join(str(h) for h in registered) or "none"
    return validation_problem(
        [
            field_error(
                location,
                f"half-life {half_life_seconds} s is not registered (registered: {names})",
                "half_life_unregistered",
            )
        ]
    )


def require_registered(
    session: Session, half_life_seconds: int | None, location: Sequence[str | int]
) -> None:
    """A 422 naming the registered half-lives when `half_life_seconds` is not one of them."""
    if half_life_seconds is None:
        return
    registered = DiversityRepository(session).registered()
    if half_life_seconds not in registered:
        raise unregistered(half_life_seconds, registered, location)


def registered(session: Session) -> list[int]:
    return DiversityRepository(session).registered()


def policy_scope(job_hash: str, policy: DiversityPolicy) -> Scope:
    """The scope a job's diversity policy measures."""
    return Scope(
        job_hash=job_hash if policy.scope == "job" else None,
        half_life_seconds=policy.half_life_seconds,
    )


POLICY_HALF_LIFE = ("body", "policy", "diversity", "half_life_seconds")


class ReadingScopes:
    """The diversity readings without an entropy measure, for one batch of readings: each
    scope measured once, at the batch's time (the readings' `recorded_at`), and noted on the
    tally for /metrics (`scope_diversity`) at no extra query."""

    def __init__(self, session: Session, at: datetime) -> None:
        self.session = session
        self.at = at
        self._registered: list[int] | None = None
        self._measured: dict[Scope, rules.ScopeDiversity] = {}
        self._tally = tally_of(session)

    def check(self, policy: DiversityPolicy) -> None:
        """A 422 when the policy names a half-life that is not registered."""
        half_life = policy.half_life_seconds
        if half_life is None:
            return
        if self._registered is None:
            self._registered = DiversityRepository(self.session).registered()
        if half_life not in self._registered:
            raise unregistered(half_life, self._registered, POLICY_HALF_LIFE)

    def measure_ahead(self, wanted: Iterable[tuple[str, DiversityPolicy]]) -> None:
        """Measure the scopes these (job, policy) pairs will ask for, all in a few queries
        (not two per job); `measure` finds them ready."""
        scopes = {policy_scope(job_hash, policy) for job_hash, policy in wanted}
        self._measured |= measure_scopes(self.session, scopes - self._measured.keys(), self.at)

    def measure(self, job_hash: str, policy: DiversityPolicy) -> ReadingDiversity:
        """The policy's scope for this job; a 422 when it holds no application."""
        self.check(policy)
        scope = policy_scope(job_hash, policy)
        self.measure_ahead([(job_hash, policy)])  # no query when it was measured ahead
        measured = self._measured[scope]
        if measured.metrics.total_applications == 0:
            where = "of the job" if scope.job_hash else "of any job"
            raise validation_problem(
                [
                    field_error(
                        ("body", "entropy"),
                        f"no entropy given and no pattern applications {where} to measure "
                        "diversity from",
                        "entropy_unavailable",
                    )
                ]
            )
        if self._tally is not None:
            self._tally.scope_diversity[(scope.job_hash, scope.half_life_seconds)] = (
                measured.metrics.diversity_index
            )
        return ReadingDiversity(
            scope=scope,
            diversity_index=measured.metrics.diversity_index,
            effective_pattern_count=measured.metrics.effective_pattern_count,
            weighted_applications=measured.weighted_applications,
        )


@dataclass(frozen=True)
class FillReport:
    half_life_seconds: int
    applications: int
    rows: int
    duration_ms: float


def register_and_fill(
    session: Session, half_lives: Sequence[int], now: datetime
) -> list[FillReport]:
    """Register the half-lives not registered yet and fill their weights from the stored
    applications, holding the applications' write lock (so no application is missed or
    counted twice). Already registered ones are left as they are (their weights may cover
    applications pruned since). The caller commits."""
    repository = DiversityRepository(session)
    repository.lock_applications()
    missing = sorted(set(half_lives) - set(repository.registered()))
    if not missing:
        return []
    started = time.perf_counter()
    applied: dict[tuple[str, str], list[int]] = defaultdict(list)
    applications = 0
    for job_hash, pattern_id, applied_at in repository.applications():
        at_us = rules.microseconds(applied_at)
        applied[(GLOBAL_SCOPE_KEY, pattern_id)].append(at_us)
        if job_hash is not None:
            applied[(job_hash, pattern_id)].append(at_us)
        applications += 1
    reports = []
    for half_life in missing:
        repository.delete_weights(half_life)  # leftovers of a half-life dropped mid-write
        repository.add_weights(
            half_life,
            {key: rules.filled_weight(times, half_life) for key, times in applied.items()},
        )
        repository.register(half_life, now)
        report = FillReport(
            half_life, applications, len(applied), round((time.perf_counter() - started) * 1000, 1)
        )
        logger.info(
            "diversity half-life registered and filled",
            half_life_seconds=half_life,
            applications=applications,
            rows=len(applied),
            duration_ms=report.duration_ms,
        )
        reports.append(report)
    return reports


def drop(session: Session, half_life_seconds: int) -> tuple[bool, int]:
    """Unregister a half-life and delete its weights; policies that name it measure all-time
    from now on (their version moves, so their ETag does). (was it registered, policies reset)"""
    repository = DiversityRepository(session)
    repository.lock_applications()
    was_registered = repository.unregister(half_life_seconds)
    reset = list(
        session.scalars(
            update(JobPolicy)
            .where(JobPolicy.diversity_half_life_seconds == half_life_seconds)
            .values(diversity_half_life_seconds=None, version=JobPolicy.version + 1)
            .returning(JobPolicy.job_hash)
            .execution_options(synchronize_session=False)
        )
    )
    if reset:
        session.execute(
            update(JobHead)
            .where(JobHead.job_hash.in_(reset))
            .values(
                policy_version=(
                    JobPolicy.__table__.select()
                    .with_only_columns(JobPolicy.version)
                    .where(JobPolicy.job_hash == JobHead.job_hash)
                    .scalar_subquery()
                )
            )
            .execution_options(synchronize_session=False)
        )
    return was_registered, len(reset)


DIVERSITY_RETRY_SECONDS = 5.0


async def register_half_lives_at_startup(
    database: Database, clock: Clock, half_lives: tuple[int, ...]
) -> "asyncio.Task[None]":
    """Register and fill DIVERSITY_HALF_LIVES (those not registered yet) before serving, so
    the first requests find them; if the database is away or not migrated, keep trying in the
    background, so the worker still starts (and /readyz says why it is not ready)."""

    def register() -> None:
        with database.session(write=True) as session:
            register_and_fill(session, half_lives, clock())
            session.commit()

    async def attempt() -> bool:
        try:
            await run_in_threadpool(register)
        except Exception:
            logger.warning("registering the diversity half-lives failed", exc_info=True)
            return False
        return True

    async def retry() -> None:
        await asyncio.sleep(DIVERSITY_RETRY_SECONDS)
        while not await attempt():
            await asyncio.sleep(DIVERSITY_RETRY_SECONDS)

    if not half_lives or await attempt():
        return asyncio.create_task(asyncio.sleep(0))
    return asyncio.create_task(retry())
