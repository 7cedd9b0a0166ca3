"""Application factory: routers, problem handlers, the database, the offline docs and the
dashboard."""

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.alerts.router import router as alerts_router
from app.alerts.schemas import AlertRule
from app.budget.router import router as budget_router
from app.budget.schemas import AdjustmentType
from app.core.clock import Clock, utc_now
from app.core.db import Database, create_db_engine
from app.core.idempotency import IdempotentReplay
from app.core.middleware import BodySizeLimit, Utf8JsonBody
from app.core.openapi import install_openapi
from app.core.problems import install_problem_handlers
from app.core.settings import Settings, get_settings
from app.dashboard import router as dashboard
from app.entropy.router import router as entropy_router
from app.jobs.group_commit import ReadingWriter
from app.jobs.router import grouped_readings_router, standard_readings_router
from app.jobs.router import router as jobs_router
from app.patterns.router import applications_router
from app.patterns.router import router as patterns_router
from app.patterns.schemas import QuarantineStatus
from app.responses.router import router as responses_router
from app.responses.rules import CheckStatus
from app.responses.schemas import ResponseAction

API_DESCRIPTION = """
Keeps learning systems from collapsing onto a few patterns: an exploration budget per job,
entropy responses when diversity collapses, and pattern diversity snapshots.
Every error is an RFC 9457 `application/problem+json` document.
"""


NAMED_ENUMS = {
    "AdjustmentType": AdjustmentType,
    "QuarantineStatus": QuarantineStatus,
    "ResponseAction": ResponseAction,
    "CheckStatus": CheckStatus,
    "AlertRule": AlertRule,
}
"""The fixed vocabularies, each one shared component of the OpenAPI document."""


class Health(BaseModel):
    status: Literal["ok"]


def operation_id(route: APIRoute) -> str:
    """Generated clients get the endpoint function's name as their method name."""
    return route.name


def create_app(settings: Settings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    settings = settings or get_settings()
    database = Database(create_db_engine(settings))

    writer: ReadingWriter | None = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if writer is not None:
            writer.start()
        try:
            yield
        finally:
            if writer is not None:
                await run_in_threadpool(writer.stop)
            database.dispose()

    app = FastAPIOffline(
        title="entropy-budget",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.clock = clock
    app.state.export_slots = threading.BoundedSemaphore(settings.export_max_concurrent)

    readings_routers = [standard_readings_router]
    if settings.readings_group_commit:
        readings_routers.insert(0, grouped_readings_router)  # first: it serves the traffic
    for router in (
        *readings_routers,
        budget_router,
        responses_router,
        entropy_router,
        patterns_router,
        applications_router,
        jobs_router,
        alerts_router,
        dashboard.router,
    ):
        app.include_router(router)
    app.mount(dashboard.STATIC_PATH, dashboard.static_files(), name=dashboard.STATIC_ROUTE_NAME)

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    async def get_health() -> Health:
        return Health(status="ok")

    install_problem_handlers(app)
    app.add_exception_handler(IdempotentReplay, _replay)
    if settings.readings_group_commit:
        writer = ReadingWriter(
            database,
            settings,
            clock,
            location_of=lambda record_id: str(
                app.url_path_for("get_budget_record", record_id=record_id)
            ),
        )
        app.state.reading_writer = writer
    app.add_middleware(Utf8JsonBody)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)  # outermost
    install_openapi(app, enums=NAMED_ENUMS)
    return app


async def _replay(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return exc.response()
