"""Prometheus metrics, correct across uvicorn's worker processes.

With `PROMETHEUS_MULTIPROC_DIR` set (`entropy-budget serve` sets it to a private directory
before it starts the workers), prometheus-client keeps every value in a per-process file in that
directory and a scrape, answered by any worker, adds up the files of all of them. Without it,
values live in this process's memory, which is right for one process (and for tests, where
every app gets its own registry).

Gauges across processes: the current budget of a job and the diversities are facts about the
database, so the value written last by any worker is the one shown (`mostrecent`), and it
stays after that worker exits; `worker_processes` counts the live workers (`livesum`: a worker
that exits is removed by `mark_process_dead`).
"""

import os
from collections.abc import Mapping
from datetime import datetime
from functools import cache, partial
from typing import get_args

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from app.budget.rules import AdjustmentType
from app.core.methods import METHODS
from app.core.telemetry import Tally
from app.observability.multiproc import MULTIPROC_DIR_ENV
from app.retention.rules import OVERRIDES as PRUNED_TABLES
from app.webhooks.rules import Outcome

NAMESPACE = "entropy_budget"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The classic text format: every Prometheus reads it, and our names need nothing newer."""
UNMATCHED_ROUTE = "unmatched"
"""The `route` label of a request no route matched (404s), so raw paths never become labels."""
OTHER_METHOD = "other"
"""The `method` label of a method outside METHODS, so a client cannot mint label values."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10000)


def multiprocess_mode() -> bool:
    """Whether values go to files in PROMETHEUS_MULTIPROC_DIR (decided by prometheus-client
    when it is first imported; the environment variable must not change after that)."""
    configured = bool(os.environ.get(MULTIPROC_DIR_ENV))
    in_files = values.ValueClass is not values.MutexValue
    if configured != in_files:
        raise RuntimeError(
            f"{MULTIPROC_DIR_ENV} was {'set' if configured else 'unset'} after "
            "prometheus_client was imported; set it before the process starts"
        )
    return configured


class Instruments:
    """The metric objects. One set per process in multiprocess mode (they share the process's
    files), one per app otherwise."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        # Every instrument is named in our namespace and kept in the one registry.
        counter = partial(Counter, namespace=NAMESPACE, registry=registry)
        gauge = partial(Gauge, namespace=NAMESPACE, registry=registry)
        histogram = partial(Histogram, namespace=NAMESPACE, registry=registry)
        labels = ("method", "route", "status")
        self.requests = counter(
            "http_requests", "HTTP requests answered, by method, route template and status.", labels
        )
        self.request_seconds = histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            labels,
            buckets=LATENCY_BUCKETS,
        )
        self.adjustments = counter(
            "budget_adjustments",
            "Budget records committed, by adjustment_type (every writer).",
            ("adjustment_type",),
        )
        self.job_budget = gauge(
            "job_budget",
            "A job's current exploration budget: its last committed budget record.",
            ("job_hash",),
            multiprocess_mode="mostrecent",
        )
        self.responses = counter("entropy_responses", "Entropy responses committed.")
        self.patterns_revisited = counter(
            "patterns_revisited", "Quarantined patterns sent back to pending by entropy responses."
        )
        self.readings = counter("readings", "Entropy readings committed.")
        self.reading_batch_size = histogram(
            "reading_batch_size",
            "Readings (requests) per committed group-commit transaction.",
            buckets=BATCH_BUCKETS,
        )
        self.diversity = gauge(
            "pattern_diversity",
            "The pattern diversity index (0..1) last computed.",
            multiprocess_mode="mostrecent",
        )
        self.scope_diversity = gauge(
            "scope_diversity",
            "The diversity index (0..1) of a scope, as the last reading without entropy that "
            "measured it (its job's policy scope) found it; job_hash and half_life_seconds "
            "empty: every job, all-time.",
            ("job_hash", "half_life_seconds"),
            multiprocess_mode="mostrecent",
        )
        self.rate_limit_unchecked = counter(
            "rate_limit_unchecked",
            "Requests served without a rate-limit check because the shared rate-limit "
            "storage (Redis) failed or was being retried (fail-open).",
        )
        self.workers = gauge(
            "worker_processes",
            "Worker processes serving (each live worker adds 1).",
            multiprocess_mode="livesum",
        )
        self.webhook_deliveries = counter(
            "webhook_deliveries",
            "Webhook attempts, by outcome: delivered, retry (failed, retried later), failed (no "
            "retry left), gone (410: the endpoint is disabled), lease_lost (another dispatcher "
            "had taken the message over).",
            ("outcome",),
        )
        self.webhook_queue_depth = gauge(
            "webhook_queue_depth",
            "Webhook messages waiting: deliveries pending to enabled endpoints, and messages "
            "not yet fanned out.",
            multiprocess_mode="mostrecent",
        )
        self.webhook_oldest_pending = gauge(
            "webhook_oldest_pending_seconds",
            "Age of the oldest waiting webhook message (since its event occurred); 0 when none.",
            multiprocess_mode="mostrecent",
        )
        self.retention_pruned = counter(
            "retention_rows_pruned", "Rows removed by retention passes, by table.", ("table",)
        )
        self.retention_oldest = gauge(
            "retention_oldest_row_seconds",
            "Age of the oldest row of each pruned history, after the last retention pass; 0 "
            "when the table is empty.",
            ("table",),
            multiprocess_mode="mostrecent",
        )
        # Every adjustment type, webhook outcome and pruned table is exported from the start.
        self.adjustment_counters = {
            kind: self.adjustments.labels(kind) for kind in get_args(AdjustmentType)
        }
        self.webhook_outcome_counters = {
            outcome: self.webhook_deliveries.labels(outcome) for outcome in get_args(Outcome)
        }
        self.retention_counters = {
            table: self.retention_pruned.labels(table) for table in PRUNED_TABLES
        }


@cache
def _instruments_of_this_process() -> Instruments:
    """One set per process: they share its files."""
    return Instruments(registry=None)


class Metrics:
    """The app's metrics: what the request middleware observes, what committed transactions
    publish (a `TallySink`), and the scrape."""

    def __init__(self, *, job_budgets: bool = True) -> None:
        self.multiprocess = multiprocess_mode()
        self._registry: CollectorRegistry | None = None
        if self.multiprocess:
            self._instruments = _instruments_of_this_process()
        else:
            self._registry = CollectorRegistry(auto_describe=True)
            self._instruments = Instruments(self._registry)
        # `_created` series exist only in memory (not in multiprocess mode): export neither.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self._job_budgets = job_budgets
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = OTHER_METHOD
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            labels = (method, route, str(status))
            children = (
                self._instruments.requests.labels(*labels),
                self._instruments.request_seconds.labels(*labels),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def publish(self, tally: Tally) -> None:
        """A committed transaction's records (`app.core.telemetry`).

        A scope's diversity is set from the readings that measured it, not by a query of its
        own: free on the hot path, and only scopes some job's policy names get a series. The
        job-scoped series are per job like `job_budget`, so `METRICS_JOB_BUDGETS` drops them
        too; the global ones are bounded by the registered half-lives."""
        instruments = self._instruments
        for kind, count in tally.adjustments.items():
            counter = instruments.adjustment_counters.get(kind)
            (counter or instruments.adjustments.labels(kind)).inc(count)
        if self._job_budgets:
            for job_hash, budget in tally.budgets.items():
                instruments.job_budget.labels(job_hash).set(budget)
        if tally.responses:
            instruments.responses.inc(tally.responses)
        if tally.patterns_revisited:
            instruments.patterns_revisited.inc(tally.patterns_revisited)
        if tally.readings:
            instruments.readings.inc(tally.readings)
        for size in tally.reading_batches:
            instruments.reading_batch_size.observe(size)
        if tally.diversity is not None:
            instruments.diversity.set(tally.diversity)
        for (scope_job, half_life), diversity in tally.scope_diversity.items():
            if scope_job is None or self._job_budgets:
                instruments.scope_diversity.labels(
                    scope_job or "", "" if half_life is None else str(half_life)
                ).set(diversity)

    def webhook_outcomes(self, outcomes: Mapping[str, int]) -> None:
        """Attempts whose outcome a dispatcher recorded (or could not: lease_lost)."""
        for outcome, count in outcomes.items():
            self._instruments.webhook_outcome_counters[outcome].inc(count)

    def webhook_queue(self, depth: int, oldest_seconds: float) -> None:
        self._instruments.webhook_queue_depth.set(depth)
        self._instruments.webhook_oldest_pending.set(oldest_seconds)

    def rows_pruned(self, table: str, rows: int) -> None:
        self._instruments.retention_counters[table].inc(rows)

    def oldest_rows(self, oldest: Mapping[str, datetime | None], now: datetime) -> None:
        """Each pruned history's oldest row, as an age at `now`."""
        for table, at in oldest.items():
            age = 0.0 if at is None else max(0.0, (now - at).total_seconds())
            self._instruments.retention_oldest.labels(table).set(age)

    def rate_limit_unchecked(self) -> None:
        """A request served without its rate-limit check (`app.core.middleware.SharedCounts`)."""
        self._instruments.rate_limit_unchecked.inc()

    def worker_started(self) -> None:
        self._instruments.workers.set(1)

    def worker_stopped(self) -> None:
        """Bookkeeping for a worker leaving: its live gauges no longer count."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
        else:
            self._instruments.workers.set(0)

    def exposition(self) -> bytes:
        """The Prometheus text of every worker (multiprocess mode) or of this process."""
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        assert self._registry is not None
        return generate_latest(self._registry)
