"""The route class every router uses: it refuses unknown query parameters
(`app.core.strict_query`), and stores a POST's response with its idempotency claim before the
request's transaction commits."""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from app.core.http import DATABASE_PROBLEMS
from app.core.idempotency_http import store_response
from app.core.strict_query import StrictQueryRoute


class ServiceRoute(StrictQueryRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_and_record(request: Request) -> Response:
            response = await handle(request)
            await store_response(request, response)
            return response

        return handle_and_record


def service_router(prefix: str, tag: str) -> APIRouter:
    """A domain's router: every route may answer with the database's 503 problem."""
    return APIRouter(
        prefix=prefix, tags=[tag], route_class=ServiceRoute, responses=DATABASE_PROBLEMS
    )
