"""Group commit for entropy readings.

Readings are the hot write path: many orchestrator processes, one small transaction each.
Committing each alone costs a transaction, the per-job lock and an fsync per request. Instead,
each worker process runs one writer thread: request handlers put their reading on a bounded
queue and wait; the writer takes what has arrived (waiting up to `readings_batch_wait_ms` for
more), applies the whole batch in one transaction (`apply_readings`, jobs locked in sorted
order, each job's readings in arrival order), stores idempotency keys in that same transaction,
commits, and only then answers each caller with its own records. A failed batch writes nothing
and fails only its own callers (503); a reading that cannot be applied gets its own 422.

The writer's log lines name the request ids (X-Request-ID) of the readings in their batch.
"""

import asyncio
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from asgi_correlation_id.context import correlation_id
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from app.core import idempotency
from app.core.clock import Clock
from app.core.db import Database
from app.core.problems import (
    DATABASE_RETRY_AFTER_SECONDS,
    DatabaseUnavailableProblem,
    InternalErrorProblem,
    ValidationProblem,
    field_error,
    validation_problem,
)
from app.core.settings import Settings
from app.core.telemetry import tally_of
from app.jobs.readings import Reading, apply_readings

logger = structlog.stdlib.get_logger("app.readings")


@dataclass(frozen=True)
class Accepted:
    """A reading applied and committed: its 201 body and the Location of its adjustment."""

    body: bytes
    location: str


Answer = Accepted | Exception
"""What a caller gets back: its records, or the exception its request answers with."""


@dataclass
class Submission:
    reading: Reading
    caller: str
    fingerprint: idempotency.RequestFingerprint | None
    loop: asyncio.AbstractEventLoop
    request_id: str | None = None
    future: "asyncio.Future[Answer]" = field(init=False)

    def __post_init__(self) -> None:
        self.future = self.loop.create_future()


def answer_all(batch: list[Submission], answers: list[Answer]) -> None:
    """Hand every caller its answer with one wake-up of each event loop (one self-pipe write
    per loop per batch, not one per caller)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Answer], Answer]]] = {}
    for submission, answer in zip(batch, answers, strict=True):
        by_loop.setdefault(submission.loop, []).append((submission.future, answer))
    for loop, results in by_loop.items():
        loop.call_soon_threadsafe(_set_results, results)


def _set_results(results: list[tuple["asyncio.Future[Answer]", Answer]]) -> None:
    for future, answer in results:
        if not future.done():  # the client may have gone away
            future.set_result(answer)


class Overloaded(Exception):  # noqa: N818 (a signal for the route, answered with 503)
    pass


_STOP = object()
WRITER_SWITCH_INTERVAL_SECONDS = 0.0005


class ReadingWriter:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
        location_of: Callable[[str], str],
    ) -> None:
        self._database = database
        self._settings = settings
        self._clock = clock
        self._location_of = location_of
        self._queue: queue.Queue[object] = queue.Queue(maxsize=settings.readings_queue_size)
        self._max_batch = settings.readings_batch_max
        self._wait_seconds = settings.readings_batch_wait_ms / 1000
        self._thread = threading.Thread(target=self._run, name="reading-writer", daemon=True)

    def start(self) -> None:
        # The writer gives up the GIL at every database round trip and must win it back from
        # the event loop, which keeps it for up to the switch interval (5 ms by default): with
        # ~8 round trips a batch, that was most of a batch's latency. 0.5 ms measured best
        # (benchmarks/readings_throughput.py: +21% readings on SQLite, +7% on PostgreSQL).
        sys.setswitchinterval(WRITER_SWITCH_INTERVAL_SECONDS)
        self._thread.start()

    def stop(self) -> None:
        """Finish every reading already queued, then stop."""
        self._queue.put(_STOP)
        self._thread.join()

    async def submit(
        self, reading: Reading, caller: str, fingerprint: idempotency.RequestFingerprint | None
    ) -> Accepted:
        submission = Submission(
            reading, caller, fingerprint, asyncio.get_running_loop(), correlation_id.get()
        )
        try:
            self._queue.put_nowait(submission)
        except queue.Full:
            raise Overloaded from None
        answer = await submission.future
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self._wait_seconds
            while len(batch) < self._max_batch:
                try:
                    # What is already queued first (no timer); then wait out the deadline.
                    item = self._queue.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=remaining)
                    except queue.Empty:
                        break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit([s for s in batch if isinstance(s, Submission)])

    def _commit(self, batch: list[Submission]) -> None:
        started = time.perf_counter()
        try:
            with self._database.session(write=True) as session:
                answers = self._apply(session, batch)
                tally = tally_of(session)
                if tally is not None:
                    tally.reading_batches.append(len(batch))
                session.commit()
        except (DBAPIError, PoolTimeoutError) as error:
            logger.warning(
                "reading batch failed",
                error=type(error).__name__,
                readings=len(batch),
                request_ids=_request_ids(batch),
            )
            failure: Exception = DatabaseUnavailableProblem(
                "The database is unavailable or busy; retry shortly.",
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )
            answers = [failure] * len(batch)
        except Exception:
            logger.exception(
                "reading batch failed", readings=len(batch), request_ids=_request_ids(batch)
            )
            answers = [InternalErrorProblem()] * len(batch)
        else:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "reading batch committed",
                    readings=len(batch),
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    request_ids=_request_ids(batch),
                )
        answer_all(batch, answers)

    def _apply(self, session: Session, batch: list[Submission]) -> list[Answer]:
        """Claim the batch's idempotency keys, apply the rest, store what must be replayable."""
        answers: dict[int, Answer] = {}
        claims: dict[int, idempotency.Claim] = {}
        holder_of: dict[tuple[str, str], int] = {}
        now = self._clock()
        ttl = timedelta(seconds=self._settings.idempotency_ttl_seconds)
        keyed = [i for i, s in enumerate(batch) if s.fingerprint is not None]
        # Keys are claimed in one global order, so two batches never wait on each other's keys.
        for index in sorted(keyed, key=lambda i: (batch[i].caller, _key(batch[i]))):
            submission = batch[index]
            assert submission.fingerprint is not None
            if (submission.caller, submission.fingerprint.key) in holder_of:
                continue
            holder_of[(submission.caller, submission.fingerprint.key)] = index
            try:
                claims[index] = idempotency.claim(
                    session, submission.caller, submission.fingerprint, now, ttl
                )
            except (idempotency.IdempotentReplay, ValidationProblem) as answer:
                answers[index] = answer

        duplicates = {i for i in keyed if holder_of[(batch[i].caller, _key(batch[i]))] != i}
        to_apply = [i for i in range(len(batch)) if i not in answers and i not in duplicates]
        outcomes = apply_readings(
            session, self._settings, self._clock, [batch[i].reading for i in to_apply]
        )
        for index, outcome in zip(to_apply, outcomes, strict=True):
            claim = claims.get(index)
            if isinstance(outcome, ValidationProblem):
                answers[index] = outcome
                if claim is not None:
                    idempotency.release(session, claim)
                continue
            accepted = Accepted(
                outcome.model_dump_json().encode(), self._location_of(outcome.adjustment.id)
            )
            answers[index] = accepted
            if claim is not None:
                idempotency.store(
                    session, claim, 201, accepted.body, {"location": accepted.location}
                )

        for index in duplicates:
            answers[index] = _duplicate_answer(batch[index], batch, holder_of, answers)
        return [answers[i] for i in range(len(batch))]


def _request_ids(batch: list[Submission]) -> list[str | None]:
    return [submission.request_id for submission in batch]


def _key(submission: Submission) -> str:
    assert submission.fingerprint is not None
    return submission.fingerprint.key


def _duplicate_answer(
    submission: Submission,
    batch: list[Submission],
    holder_of: dict[tuple[str, str], int],
    answers: dict[int, Answer],
) -> Answer:
    """A key sent twice in one batch: the second is a replay of the first (or a 422)."""
    holder = batch[holder_of[(submission.caller, _key(submission))]]
    assert submission.fingerprint is not None
    assert holder.fingerprint is not None
    if submission.fingerprint.digest != holder.fingerprint.digest:
        return validation_problem(
            [
                field_error(
                    ("header", idempotency.HEADER),
                    "this key was already used with a different request",
                    "key_reused",
                )
            ]
        )
    first = answers[holder_of[(submission.caller, _key(submission))]]
    if isinstance(first, Accepted):
        return idempotency.IdempotentReplay(201, first.body, {"location": first.location})
    return first
