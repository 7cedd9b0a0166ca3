"""Application factory: routers, problem handlers, the database, the offline docs, the
dashboard, and the operations side (readiness, metrics, logs with request ids)."""

import asyncio
import gc
import logging
import multiprocessing
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from app.alerts.router import router as alerts_router
from app.alerts.schemas import AlertRule
from app.budget.router import router as budget_router
from app.budget.rules import AdjustmentType
from app.core.auth import ApiKeyAuth, KeyStore
from app.core.clock import Clock, utc_now
from app.core.db import Database, create_db_engine
from app.core.idempotency import IdempotentReplay
from app.core.idempotency_http import replay_response
from app.core.middleware import BodySizeLimit, JsonContentType, RateLimit, Utf8JsonBody
from app.core.openapi import RATE_LIMIT_EXEMPT, install_openapi
from app.core.problems import install_problem_handlers
from app.core.settings import Settings, get_settings
from app.dashboard import router as dashboard
from app.diversity import service as diversity
from app.entropy.router import router as entropy_router
from app.jobs.hot_path import ReadingsHotPath
from app.jobs.readings import ReadingsBatcher, readings_batcher, recording_alone
from app.jobs.router import reading_response, readings_router
from app.jobs.router import router as jobs_router
from app.observability import router as operations
from app.observability.logs import configure_logging_unless_configured
from app.observability.metrics import Metrics
from app.observability.middleware import wrap_outermost
from app.observability.multiproc import MULTIPROC_DIR_ENV
from app.observability.readiness import ReadinessProbe
from app.patterns.router import applications_router
from app.patterns.router import router as patterns_router
from app.patterns.rules import QuarantineStatus
from app.responses.router import router as responses_router
from app.responses.rules import CheckStatus
from app.responses.schemas import ResponseAction
from app.retention.service import Pruner, purge_expired_keys_periodically
from app.webhooks.dispatcher import Dispatcher
from app.webhooks.router import TAG as WEBHOOKS_TAG
from app.webhooks.router import events_router as webhook_events
from app.webhooks.router import router as webhooks_router
from app.webhooks.rules import DeliveryStatus, EventType, MessageType

API_DESCRIPTION = """
Keeps learning systems from collapsing onto a few patterns: an exploration budget per job,
entropy responses when diversity collapses, and pattern diversity snapshots.
Every error is an RFC 9457 `application/problem+json` document.
"""


TAGS = [
    {
        "name": "jobs",
        "description": "The orchestrator's loop, per job: report entropy readings (each adjusts "
        "the budget and may trigger an entropy response), pick a pattern to apply (exploring at "
        "the rate of the budget), and the job's policy (bounds, rates, thresholds).",
    },
    {
        "name": "budget",
        "description": "The exploration budget: the share of picks that explore rather than "
        "exploit, one record per change, with its history and statistics.",
    },
    {
        "name": "entropy-responses",
        "description": "What the service does when a job's diversity collapses: boost the "
        "budget and revisit quarantined patterns. Checks, triggers, history and statistics.",
    },
    {
        "name": "pattern-entropy",
        "description": "Pattern diversity: the Shannon entropy of how often each pattern was "
        "applied, now or as recorded snapshots.",
    },
    {
        "name": "patterns",
        "description": "The patterns a learning system applies, their quarantine status, and "
        "each application with its outcome.",
    },
    {
        "name": "alerts",
        "description": "Alert rules evaluated now over a job's budget, responses and diversity.",
    },
    WEBHOOKS_TAG,
    {
        "name": "operations",
        "description": "Liveness and readiness for load balancers and orchestrators; open "
        "without a key and not rate-limited.",
    },
]
"""Every tag of the document, in the order the docs show them."""


NAMED_ENUMS = {
    "AdjustmentType": (
        AdjustmentType,
        "How a budget record came about: `initial` (a job's first budget), `decay` and `boost` "
        "(a reading at or above, or below, the entropy threshold), `floor_enforced` and "
        "`ceiling_enforced` (a value clamped to the bounds), `manual` (set directly).",
    ),
    "QuarantineStatus": (
        QuarantineStatus,
        "Where a pattern stands: `pending` (new, or sent back for revalidation), "
        "`quarantined` (kept out of selections), `validated`, `retired`.",
    ),
    "ResponseAction": (
        ResponseAction,
        "What an entropy response did: `budget_boost` (raised the job's budget), "
        "`quarantine_revisit` (sent quarantined patterns back to pending).",
    ),
    "CheckStatus": (
        CheckStatus,
        "The outcome of an entropy-response check: `below_threshold` (a response is due), "
        "`healthy`, `cooldown` (too soon after the last response), `no_data`.",
    ),
    "AlertRule": (
        AlertRule,
        "An alert rule: `budget_at_floor`, `boosts_outpace_decays`, `dominant_pattern`.",
    ),
    "WebhookEventType": (
        EventType,
        "An event a webhook endpoint can subscribe to: `entropy_response.triggered`, "
        "`pattern.status_changed`.",
    ),
    "WebhookMessageType": (
        MessageType,
        "The type of a webhook message: a subscribed event, or `ping` (sent to one "
        "endpoint on request).",
    ),
    "DeliveryStatus": (
        DeliveryStatus,
        "Where a message's delivery stands: `pending` (to be attempted, or retried), "
        "`delivered`, `failed` (every attempt failed; it can be retried by hand).",
    ),
}
"""The fixed vocabularies, each one shared component of the OpenAPI document, described."""


logger = logging.getLogger("app.main")


def operation_id(route: APIRoute) -> str:
    """Generated clients get the endpoint function's name as their method name."""
    return route.name


def create_app(  # noqa: PLR0915 (the app's wiring, kept in one place)
    settings: Settings | None = None, *, clock: Clock = utc_now
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging_unless_configured(settings.log_level, settings.log_format)
    metrics = Metrics(job_budgets=settings.metrics_job_budgets)
    database = Database(
        create_db_engine(settings),
        sink=metrics,
        turn_timeout_seconds=settings.sqlite_busy_timeout_ms / 1000,
    )

    batcher: ReadingsBatcher | None = (
        readings_batcher(database, settings, clock, render=reading_response)
        if settings.readings_group_commit
        else None
    )
    keys = KeyStore(
        settings.configured_keys, database, ttl=settings.api_keys_cache_seconds, clock=clock
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with frozen_startup_heap():
            metrics.worker_started()
            if batcher is not None:
                batcher.start()
            app.state.webhook_dispatcher.start()
            pruner.start()
            background = [
                await diversity.register_half_lives_at_startup(
                    database, clock, settings.diversity_half_life_seconds
                ),
                asyncio.create_task(
                    purge_expired_keys_periodically(
                        database, clock, settings.idempotency_purge_interval_seconds
                    )
                ),
            ]
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                await run_in_threadpool(pruner.stop)
                await run_in_threadpool(app.state.webhook_dispatcher.stop)
                if batcher is not None:
                    await run_in_threadpool(batcher.stop)
                await run_in_threadpool(keys.flush_uses)
                database.dispose()
                metrics.worker_stopped()

    app = FastAPIOffline(
        title="entropy-budget",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        openapi_tags=TAGS,
        webhooks=webhook_events,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.clock = clock
    app.state.metrics = metrics
    app.state.readiness = ReadinessProbe(database, settings)
    app.state.export_slots = threading.BoundedSemaphore(settings.export_max_concurrent)
    app.state.webhook_dispatcher = Dispatcher(database, settings, clock, metrics)
    pruner = Pruner(
        database, settings, clock, on_batch=metrics.rows_pruned, on_pass=metrics.oldest_rows
    )

    for router in (
        # First: FastAPI (>= 0.137) tries the routers in order, with bookkeeping per route that
        # cost /healthz more than its own work when it came last (benchmarks/layers.py).
        operations.router,
        readings_router,
        budget_router,
        responses_router,
        entropy_router,
        patterns_router,
        applications_router,
        jobs_router,
        alerts_router,
        webhooks_router,
        dashboard.router,
    ):
        app.include_router(router)
    app.mount(dashboard.STATIC_PATH, dashboard.static_files(), name=dashboard.STATIC_ROUTE_NAME)

    install_problem_handlers(app)
    app.add_exception_handler(IdempotentReplay, replay_response)
    record = (
        batcher.submit if batcher else recording_alone(database, settings, clock, reading_response)
    )
    app.add_middleware(ReadingsHotPath, record=record)  # innermost: every guard applies
    # Innermost first; each is pure ASGI (see app.core.middleware for the order's reasons).
    app.add_middleware(Utf8JsonBody)
    app.add_middleware(JsonContentType)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.rate_limit_enabled:
        app.add_middleware(
            RateLimit,
            limit=settings.rate_limit_item,
            strategy=settings.rate_limit_strategy,
            storage=settings.rate_limit_storage,
            key_prefix=settings.rate_limit_key_prefix,
            on_unchecked=metrics.rate_limit_unchecked,
            exempt=RATE_LIMIT_EXEMPT,
        )
    app.add_middleware(
        ApiKeyAuth, store=keys, metrics_require_key=settings.metrics_require_key
    )  # outermost
    # The request id, metrics and access log: around everything.
    wrap_outermost(app, metrics, access_log=settings.access_log)
    install_openapi(app, enums=NAMED_ENUMS, keys_required=lambda: keys_required(keys, settings))
    if not metrics.multiprocess and multiprocessing.parent_process() is not None:
        logger.warning(
            "%s is not set: /metrics shows this worker process only; serve with "
            "`entropy-budget serve`, or set it to an empty directory shared by the workers",
            MULTIPROC_DIR_ENV,
        )
    return app


def keys_required(keys: KeyStore, settings: Settings) -> bool:
    """Whether callers need a key now, as the document should say: the store's latest snapshot
    (`ApiKeyAuth` refreshes a stale one for each /openapi.json), or the configured keys alone
    while the table could not be read."""
    snapshot = keys.latest()
    return snapshot.active if snapshot is not None else bool(settings.configured_keys)


@contextmanager
def frozen_startup_heap() -> Iterator[None]:
    """While a worker serves, the objects it built at startup (modules, the app, its routes and
    schemas) stay out of the cyclic collector's reach: its full collections walked them all
    every few seconds under load and stalled the event loop (readings' p99 ~100 -> ~20 ms:
    benchmarks/readings_throughput.py, docs/benchmarks.md)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
