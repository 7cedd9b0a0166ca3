"""Strict query strings: a query parameter an operation does not take is a 422 naming it.

FastAPI ignores unknown query parameters, so `?job_hash=x&lmit=2` silently served every record
at the default limit while a misspelled body field is refused. The route class below refuses
them on every documented operation, before the endpoint runs (so before any transaction:
nothing is written), with the `extra_forbidden` error an unknown body field gets; the readings
hot path applies the same check with its route's names. Routes outside the OpenAPI document
(the dashboard page, /metrics) keep lenient query strings: a bookmark's `?from=` or a
Prometheus `name[]` filter is not a mistake there.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import params
from fastapi.dependencies.utils import get_flat_params, get_validation_alias
from fastapi.routing import APIRoute
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from app.core.problems import field_error, validation_problem

UNKNOWN_PARAMETER_TYPE = "extra_forbidden"
"""pydantic's error type for an unknown body field; an unknown query parameter is the same."""


def query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameter names the operation declares (its dependencies' ones included)."""
    return frozenset(
        get_validation_alias(field)
        for field in get_flat_params(route.dependant)
        if isinstance(field.field_info, params.Query)
    )


def check_query(query_string: bytes, known: frozenset[str]) -> None:
    """Raise the 422 naming each query parameter not in `known`, in the order sent."""
    if not query_string:
        return  # the common case costs nothing
    unknown = dict.fromkeys(name for name in QueryParams(query_string) if name not in known)
    if unknown:
        takes = ", ".join(sorted(known)) if known else "no query parameters"
        message = f"Unknown query parameter; this operation takes {takes}"
        raise validation_problem(
            [field_error(("query", name), message, UNKNOWN_PARAMETER_TYPE) for name in unknown]
        )


class StrictQueryRoute(APIRoute):
    """An operation that refuses the query parameters it does not declare."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if not self.include_in_schema:
            return handle
        known = query_parameters(self)

        async def handle_strictly(request: Request) -> Response:
            check_query(request.scope["query_string"], known)
            return await handle(request)

        return handle_strictly
