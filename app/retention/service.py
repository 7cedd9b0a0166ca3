"""Retention passes: each pruned history is walked from its oldest row in bounded batches, one
short write transaction each, with a pause between them, so writers (readings included) wait
for one batch at most. Run by a thread in every worker (`Pruner`) and by `entropy-budget prune`.

Only rows are removed: the statistics (maintained aggregates on `job_heads`), the patterns'
counters and the diversity accumulators are totals over the whole life, and stay.

Expired Idempotency-Keys are deleted here too, on their own interval
(IDEMPOTENCY_PURGE_INTERVAL_SECONDS, always on): rows past their use, like a history's.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.concurrency import run_in_threadpool

from app.core import idempotency
from app.core.clock import Clock
from app.core.db import Database
from app.core.settings import Settings
from app.retention import repository, rules

logger = logging.getLogger("app.retention")


@dataclass(frozen=True)
class Pruned:
    """What a pass did to one history (or would do, in a dry run)."""

    table: str
    cutoff: datetime
    rows: int


def prune(
    database: Database,
    settings: Settings,
    clock: Clock,
    *,
    dry_run: bool = False,
    on_batch: Callable[[str, int], None] = lambda _table, _rows: None,
    stop: threading.Event | None = None,
) -> list[Pruned]:
    """One pass over every history that has a retention; `on_batch(table, rows)` after each
    committed batch. A dry run only counts. `stop` ends the pass between two batches."""
    now = clock()
    report = []
    for history in repository.HISTORIES:
        days = rules.kept_days(settings, history.table)
        if days is None:
            continue
        cutoff = rules.cutoff(now, days, settings.idempotency_ttl_seconds)
        if dry_run:
            with database.session(write=False) as session:
                rows = repository.count_prunable(session, history, cutoff)
        else:
            rows = _prune_history(database, settings, history, cutoff, on_batch=on_batch, stop=stop)
        report += [Pruned(table, cutoff, count) for table, count in rows.items()]
    return report


def _prune_history(
    database: Database,
    settings: Settings,
    history: repository.History,
    cutoff: datetime,
    *,
    on_batch: Callable[[str, int], None],
    stop: threading.Event | None,
) -> dict[str, int]:
    totals = dict.fromkeys(history.tables, 0)
    after: repository.Position | None = None
    while stop is None or not stop.is_set():
        with database.session(write=True) as session, session.begin():
            deleted, after = repository.prune_batch(
                session, history, cutoff, after, settings.retention_batch_size
            )
        for table, rows in deleted.items():
            totals[table] += rows
            on_batch(table, rows)
        if after is None:
            break
        time.sleep(settings.retention_batch_pause_seconds)
    return totals


def oldest_rows(database: Database) -> dict[str, datetime | None]:
    """The time of each history's oldest row (None: empty). Dependents have none of their
    own: they go with their owner (a webhook delivery is made after its message)."""
    with database.session(write=False) as session:
        return {
            history.table: repository.oldest(session, history) for history in repository.HISTORIES
        }


class Pruner:
    """The worker's pruning thread: a pass every RETENTION_INTERVAL_SECONDS (the first at
    start), counted in the metrics; `stop` returns once the current batch is done."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
        *,
        on_batch: Callable[[str, int], None],
        on_pass: Callable[[dict[str, datetime | None], datetime], None],
    ) -> None:
        self._database = database
        self._settings = settings
        self._clock = clock
        self._on_batch = on_batch
        self._on_pass = on_pass
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not rules.any_retention(self._settings):
            return
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                prune(
                    self._database,
                    self._settings,
                    self._clock,
                    on_batch=self._on_batch,
                    stop=self._stop,
                )
                self._on_pass(oldest_rows(self._database), self._clock())
            except Exception:  # the database may be away; the next pass tries again
                logger.warning("a retention pass failed", exc_info=True)
            self._stop.wait(self._settings.retention_interval_seconds)


async def purge_expired_keys_periodically(
    database: Database, clock: Clock, interval_seconds: float
) -> None:
    """Each worker deletes the Idempotency-Keys past their TTL every interval."""

    def purge() -> None:
        with database.session(write=True) as session:
            idempotency.purge_expired(session, clock())
            session.commit()

    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await run_in_threadpool(purge)
        except Exception:  # the database may be away; the next round tries again
            logger.warning("purging expired idempotency keys failed", exc_info=True)
