"""The webhook dispatcher: every worker process of every replica runs one (there is no leader).

Each runs in a thread of its own, with its own event loop, so nothing it does (resolving,
connecting, waiting on a receiver that never answers) shares the loop that serves requests,
and it uses one pooled connection at a time. A cycle is one short write transaction:
1. record the outcomes of the attempts that finished, each only if the delivery is still under
   the claim that attempted it (`lease_token`): a claim whose lease expired and was taken over
   by another dispatcher records nothing (`lease_lost`), the other's outcome stands;
2. fan out new messages of the outbox: one delivery per enabled endpoint subscribed to the
   event type and created before the message;
3. claim due deliveries with a lease (`lease_until`, `attempts + 1`), within this process's free
   slots and each endpoint's in-flight cap. PostgreSQL locks the endpoints it claims for with
   FOR UPDATE SKIP LOCKED, so concurrent dispatchers share the work and never exceed a cap;
   SQLite's BEGIN IMMEDIATE makes the whole cycle exclusive.
Then it commits and posts the claimed messages outside any transaction, each within the total
deadline. An idle dispatcher only reads (is anything due?) every WEBHOOKS_POLL_SECONDS, so it
never takes SQLite's write lock for nothing. A dispatcher that dies leaves its leases to
expire; the messages are then claimed again: at least once, with the same `webhook-id`.
"""

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from app.core.clock import Clock
from app.core.db import Database
from app.core.settings import Settings
from app.webhooks import rules
from app.webhooks.outbound import Answer, Sender
from app.webhooks.repository import (
    ClaimedDelivery,
    DeliveryRepository,
    EndpointRepository,
    MessageRepository,
)
from app.webhooks.service import new_delivery

logger = structlog.stdlib.get_logger("app.webhooks")

FAN_OUT_BATCH = 500
"""Messages one cycle fans out at most."""
BATCHING_SECONDS = 0.02
"""After an attempt finishes, how long the dispatcher waits for others to finish too, so that
one transaction records them together."""
STOP_GRACE_SECONDS = 2.0
"""On shutdown, how long attempts in flight may still finish; the rest are released."""
STATS_INTERVAL_SECONDS = 1.0
DATABASE_WARNING_INTERVAL_SECONDS = 60.0

T = TypeVar("T")


class WebhookMetrics(Protocol):
    def webhook_outcomes(self, outcomes: Mapping[str, int]) -> None: ...
    def webhook_queue(self, depth: int, oldest_seconds: float) -> None: ...


@dataclass(frozen=True)
class Finished:
    """An attempt that is over, waiting for its outcome to be recorded."""

    claim: ClaimedDelivery
    token: str
    answer: Answer
    verdict: rules.Verdict
    at: datetime


@dataclass(frozen=True)
class Claims:
    token: str
    deliveries: list[ClaimedDelivery]


class Dispatcher:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
        metrics: WebhookMetrics,
    ) -> None:
        self._enabled = settings.webhooks_dispatch
        self._database = database
        self._clock = clock
        self._metrics = metrics
        self._schedule = settings.webhooks_retry_delays
        self._lease = timedelta(seconds=settings.webhooks_lease_seconds)
        self._cap = settings.webhooks_max_in_flight_per_endpoint
        self._concurrency = settings.webhooks_dispatch_concurrency
        self._poll = settings.webhooks_poll_seconds
        self._timeout = settings.webhooks_timeout_seconds
        self._allow_private = settings.webhooks_allow_private
        self._thread = threading.Thread(target=self._main, name="webhook-dispatcher", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._stopping = False
        self._started = threading.Event()
        self._rng = random.Random()
        self._in_flight: dict[int, tuple[str, asyncio.Task[None]]] = {}
        self._finished: list[Finished] = []
        self._last_stats = 0.0
        self._last_database_warning = 0.0
        if settings.webhooks_lease_seconds <= settings.webhooks_timeout_seconds:
            logger.warning(
                "WEBHOOKS_LEASE_SECONDS is not above WEBHOOKS_TIMEOUT_SECONDS: a slow receiver's "
                "messages will be claimed again while their first attempt is still waiting, "
                "and delivered twice",
                lease_seconds=settings.webhooks_lease_seconds,
                timeout_seconds=settings.webhooks_timeout_seconds,
            )

    # -- control, from other threads ------------------------------------------------------------

    def start(self) -> None:
        """Start dispatching (unless WEBHOOKS_DISPATCH=false: this process then only writes
        the outbox)."""
        if self._enabled:
            self._thread.start()
            self._started.wait()

    def stop(self) -> None:
        """Stop claiming; let attempts in flight finish for a moment, record what finished,
        release the rest (due again at once, for any dispatcher), and end the thread."""
        self._stopping = True
        self.wake()
        if self._thread.is_alive():
            self._thread.join()

    def wake(self) -> None:
        """Look for work now rather than at the next poll (a ping, a redelivery)."""
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wakeup.set)

    # -- the dispatcher's own thread ------------------------------------------------------------

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception:
            logger.exception("webhook dispatcher stopped")
        finally:
            self._started.set()  # start() never waits on a thread that failed to start

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        sender = Sender(timeout_seconds=self._timeout, allow_private=self._allow_private)
        database_thread = ThreadPoolExecutor(1, thread_name_prefix="webhook-db")
        self._started.set()
        try:
            while not self._stopping:
                await self._cycle(sender, database_thread)
                await self._sleep()
            await self._drain(database_thread)
        finally:
            await sender.aclose()
            database_thread.shutdown(wait=True)

    async def _sleep(self) -> None:
        assert self._wakeup is not None
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll)
        except TimeoutError:
            return
        self._wakeup.clear()
        if not self._stopping:
            await asyncio.sleep(BATCHING_SECONDS)

    async def _in_database(self, executor: ThreadPoolExecutor, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, work)

    async def _cycle(self, sender: Sender, executor: ThreadPoolExecutor) -> None:
        finished, self._finished = self._finished, []
        free = self._concurrency - len(self._in_flight)
        try:
            if time.monotonic() - self._last_stats >= STATS_INTERVAL_SECONDS:
                await self._in_database(executor, self._publish_queue)
            if not finished and not await self._in_database(executor, self._work_is_due):
                return
            outcomes, claims = await self._in_database(
                executor, lambda: self._transact(finished, free)
            )
        except (DBAPIError, PoolTimeoutError) as error:
            self._finished = finished + self._finished  # recorded by a later cycle
            self._warn_database(error)
            return
        except Exception:
            # A bug must not end the thread (this worker would stop delivering): log it and
            # go on; the outcomes are recorded by a later cycle, or their leases expire.
            self._finished = finished + self._finished
            logger.exception("webhook dispatcher cycle failed")
            return
        self._metrics.webhook_outcomes(outcomes)
        for claim in claims.deliveries:
            task = asyncio.create_task(self._attempt(sender, claim, claims.token))
            self._in_flight[claim.seq] = (claims.token, task)
        if claims.deliveries and len(claims.deliveries) == free:
            self.wake()  # there may be more: come back as soon as a slot frees

    def _work_is_due(self) -> bool:
        with self._database.session(write=False) as session:
            return DeliveryRepository(session).work_is_due(self._clock(), self._cap)

    def _publish_queue(self) -> None:
        """The queue's depth and age, for /metrics (every dispatcher, once a second)."""
        self._last_stats = time.monotonic()
        with self._database.session(write=False) as session:
            depth, oldest = DeliveryRepository(session).queue()
        age = 0.0 if oldest is None else max(0.0, (self._clock() - oldest).total_seconds())
        self._metrics.webhook_queue(depth, age)

    def _transact(self, finished: list[Finished], free: int) -> tuple[Counter[str], Claims]:
        with self._database.session(write=True) as session:
            now = self._clock()
            outcomes = self._record(session, finished)
            self._fan_out(session, now)
            claims = self._claim(session, now, free) if not self._stopping else Claims("", [])
            session.commit()
        return outcomes, claims

    def _record(self, session: Session, finished: list[Finished]) -> Counter[str]:
        """The outcomes, deliveries in seq order and then the endpoints to disable: the lock
        order of every writer of deliveries (a prune batch, an endpoint's deletion)."""
        deliveries = DeliveryRepository(session)
        outcomes: Counter[str] = Counter()
        gone: dict[int, Finished] = {}
        for done in sorted(finished, key=lambda done: done.claim.seq):
            verdict, answer = done.verdict, done.answer
            values: dict[str, Any] = {
                "status": verdict.status,
                "last_status_code": answer.status_code,
                "last_error": answer.error,
                "failures": done.claim.failures + (verdict.outcome != "delivered"),
                "next_attempt_at": (
                    None
                    if verdict.retry_in is None
                    else done.at + timedelta(seconds=verdict.retry_in)
                ),
            }
            if not deliveries.record(done.claim.seq, done.token, values):
                outcomes["lease_lost"] += 1
                continue
            outcomes[verdict.outcome] += 1
            if verdict.disable_endpoint:
                gone[done.claim.endpoint_seq] = done
        for endpoint_seq, done in sorted(gone.items()):
            reason = f"The endpoint answered 410 Gone at {done.at.isoformat()}"
            EndpointRepository(session).disable(endpoint_seq, reason, done.at)
            logger.warning(
                "webhook endpoint disabled: it answered 410 Gone",
                endpoint_id=done.claim.endpoint_id,
                message_id=done.claim.message_id,
            )
        return outcomes

    def _fan_out(self, session: Session, now: datetime) -> None:
        messages = MessageRepository(session).take_unfanned(FAN_OUT_BATCH)
        if not messages:
            return
        subscribers = EndpointRepository(session).subscribers()
        DeliveryRepository(session).insert(
            [
                new_delivery(endpoint_seq, seq, message_id, event_type, now)
                for seq, message_id, event_type in messages
                for endpoint_seq, events, after_message_seq in subscribers
                if event_type in events and seq > after_message_seq
            ]
        )

    def _claim(self, session: Session, now: datetime, free: int) -> Claims:
        if free <= 0:
            return Claims("", [])
        deliveries = DeliveryRepository(session)
        endpoints = deliveries.lock_due_endpoints(now, self._cap, limit=free)
        in_flight = deliveries.in_flight(endpoints, now)
        chosen: list[int] = []
        for endpoint_seq in endpoints:
            room = min(self._cap - in_flight.get(endpoint_seq, 0), free - len(chosen))
            if room > 0:
                chosen += deliveries.due(endpoint_seq, now, room)
            if len(chosen) >= free:
                break
        token = uuid.uuid4().hex
        leased = deliveries.lease(chosen, token, now, now + self._lease)
        return Claims(token, deliveries.claimed(leased) if leased else [])

    async def _attempt(self, sender: Sender, claim: ClaimedDelivery, token: str) -> None:
        try:
            started = self._clock()
            timestamp = int(started.timestamp())
            body = claim.body.encode()
            signing = rules.signing_secrets(
                claim.secret, claim.previous_secret, claim.previous_secret_expires_at, started
            )
            headers = [
                ("Content-Type", "application/json"),
                ("webhook-id", claim.message_id),
                ("webhook-timestamp", str(timestamp)),
                (
                    "webhook-signature",
                    rules.signature_header(signing, claim.message_id, timestamp, body),
                ),
            ]
            try:
                answer = await sender.post(claim.url, headers, body)
            except Exception:  # a bug, not the receiver's doing: logged, counted as a failure
                logger.exception("webhook attempt failed unexpectedly", message_id=claim.message_id)
                answer = Answer(None, error="the attempt failed unexpectedly (see the logs)")
            ended = self._clock()
            verdict = rules.judge_attempt(
                answer.status_code,
                rules.parse_retry_after(answer.retry_after, ended),
                failures_so_far=claim.failures,
                schedule=self._schedule,
                rng=self._rng,
            )
            if verdict.outcome != "delivered":
                logger.info(
                    "webhook attempt failed",
                    endpoint_id=claim.endpoint_id,
                    message_id=claim.message_id,
                    status_code=answer.status_code,
                    error=answer.error,
                    retry_in_seconds=verdict.retry_in,
                )
            self._finished.append(Finished(claim, token, answer, verdict, ended))
        finally:
            self._in_flight.pop(claim.seq, None)
            self.wake()

    async def _drain(self, executor: ThreadPoolExecutor) -> None:
        """Shutdown: attempts in flight get a moment; the outcomes are recorded, the claims
        of those cut short released."""
        tasks = [task for _, task in self._in_flight.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
        cut_short = dict(self._in_flight)
        for _, task in cut_short.values():
            task.cancel()
        await asyncio.gather(*(task for _, task in cut_short.values()), return_exceptions=True)
        finished, self._finished = self._finished, []

        def record_and_release() -> Counter[str]:
            with self._database.session(write=True) as session:
                outcomes = self._record(session, finished)
                now = self._clock()
                deliveries = DeliveryRepository(session)
                for seq, (token, _task) in cut_short.items():
                    deliveries.release(seq, token, now)
                session.commit()
            return outcomes

        try:
            self._metrics.webhook_outcomes(await self._in_database(executor, record_and_release))
        except (DBAPIError, PoolTimeoutError) as error:
            self._warn_database(error)  # the leases expire; other dispatchers take over

    def _warn_database(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_database_warning >= DATABASE_WARNING_INTERVAL_SECONDS:
            self._last_database_warning = now
            logger.warning(
                "webhook dispatcher cannot reach the database; retrying",
                error=type(error).__name__,
            )
