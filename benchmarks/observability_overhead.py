"""Per-request cost of the observability layers (request id, metrics, access log).

    python benchmarks/observability_overhead.py [--requests 100000] [--repeats 7] [--in-memory]

Calls ASGI stacks directly, in one event loop, with a synthetic POST to the readings route
(its route left in the scope as the router would): a trivial app answering 201, alone and
wrapped by the layers `create_app` puts around everything. The difference is what each layer
adds per request, without the server and the network (which do not change). Metrics run in
prometheus-client's multiprocess mode (files in a temporary PROMETHEUS_MULTIPROC_DIR), as
`entropy-budget serve` runs them, unless --in-memory. Times are the process's CPU time, and
the best of --repeats runs is kept: on a shared machine the minimum is the least disturbed.
"""

import argparse
import asyncio
import atexit
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--requests", type=int, default=100_000)
ARGS.add_argument("--repeats", type=int, default=7)
ARGS.add_argument("--in-memory", action="store_true", help="no PROMETHEUS_MULTIPROC_DIR")
OPTIONS = ARGS.parse_args()
if not OPTIONS.in_memory:  # before prometheus_client is imported (by app.observability.metrics)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="eb-bench-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asgi_correlation_id import CorrelationIdMiddleware  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402
from uvicorn.logging import AccessFormatter  # noqa: E402

from app.observability.logs import configure_structlog, formatter  # noqa: E402
from app.observability.metrics import Metrics  # noqa: E402
from app.observability.middleware import (  # noqa: E402
    REQUEST_ID_HEADER,
    RequestTelemetry,
    valid_request_id,
)


@dataclass
class Route:
    path_format: str = "/v1/jobs/{job_hash}/entropy-readings"


ROUTE = Route()
BODY = b'{"adjustment": "..."}'


async def app(scope: Scope, _receive: Receive, send: Send) -> None:
    scope["route"] = ROUTE  # what the router leaves behind
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def scope_of(request_id: bytes | None) -> Scope:
    headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")]
    if request_id is not None:
        headers.append((b"x-request-id", request_id))
    return {
        "type": "http",
        "method": "POST",
        "path": "/v1/jobs/job-42/entropy-readings",
        "root_path": "",
        "headers": headers,
    }


async def receive() -> Message:
    return {"type": "http.request", "body": b'{"entropy": 0.5}', "more_body": False}


async def send(_message: Message) -> None:
    return None


async def run(stack: ASGIApp, requests: int, request_id: bytes | None) -> float:
    """CPU seconds of the process (not wall time: other processes' load hardly moves it)."""
    started = time.process_time()
    for _ in range(requests):
        await stack(scope_of(request_id), receive, send)
    return time.process_time() - started


def with_request_id(inner: ASGIApp) -> ASGIApp:
    return CorrelationIdMiddleware(
        inner,
        header_name=REQUEST_ID_HEADER,
        update_request_header=False,
        validator=valid_request_id,
    )


def access_log(records: str | None) -> None:
    """The access logger at INFO writing JSON lines to /dev/null, with the standard library's
    full log records or lean ones (what `serve` configures); None: at WARNING, no lines."""
    logger = logging.getLogger("app.access")
    logger.handlers.clear()
    logger.propagate = False
    if records is not None:
        handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
        handler.setFormatter(formatter("json", lean_records=records == "lean"))
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if records is None else logging.INFO)


def main() -> None:
    configure_structlog()
    metrics = Metrics()
    stacks: list[tuple[str, Callable[[], ASGIApp], str | None, bytes | None]] = [
        ("bare app", lambda: app, None, None),
        (
            "+ metrics (RequestTelemetry, ACCESS_LOG=false)",
            lambda: RequestTelemetry(app, metrics, access_log=False),
            None,
            None,
        ),
        (
            "+ request id, generated (CorrelationIdMiddleware)",
            lambda: with_request_id(RequestTelemetry(app, metrics, access_log=False)),
            None,
            None,
        ),
        (
            "+ request id, client's X-Request-ID",
            lambda: with_request_id(RequestTelemetry(app, metrics, access_log=False)),
            None,
            b"abc123",
        ),
        (
            "+ access log line (JSON to /dev/null), full log records",
            lambda: with_request_id(RequestTelemetry(app, metrics)),
            "full",
            None,
        ),
        (
            "+ access log line, lean log records: what serve runs",
            lambda: with_request_id(RequestTelemetry(app, metrics)),
            "lean",
            None,
        ),
    ]
    mode = "in memory" if OPTIONS.in_memory else "multiprocess files"
    print(f"{OPTIONS.requests} requests per run, best of {OPTIONS.repeats}; metrics {mode}")
    loop = asyncio.new_event_loop()
    baseline: float | None = None
    for name, build, records, request_id in stacks:
        access_log(records)
        stack = build()
        loop.run_until_complete(run(stack, 1000, request_id))  # warm up
        best = min(
            loop.run_until_complete(run(stack, OPTIONS.requests, request_id))
            for _ in range(OPTIONS.repeats)
        )
        per_request_us = best / OPTIONS.requests * 1e6
        baseline = per_request_us if baseline is None else baseline
        added = per_request_us - baseline
        print(f"  {name:58} {per_request_us:7.2f} us/request  (+{added:5.2f} us)")
    loop.close()
    samples: Any = metrics.exposition().decode()
    assert "entropy_budget_http_requests_total" in samples
    print(
        f"  for comparison, one uvicorn access log line (serve's default before): "
        f"{uvicorn_access_line_us():.2f} us"
    )


def uvicorn_access_line_us() -> float:
    """uvicorn's own access log line, as uvicorn formats it, to /dev/null."""
    logger = logging.getLogger("uvicorn.access.benchmark")
    logger.propagate = False
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(
        AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s')
    )
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    path = "/v1/jobs/job-42/entropy-readings"

    def lines(count: int) -> float:
        started = time.process_time()
        for _ in range(count):
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", path, "1.1", 201)
        return time.process_time() - started

    lines(1000)
    return min(lines(OPTIONS.requests) for _ in range(OPTIONS.repeats)) / OPTIONS.requests * 1e6


if __name__ == "__main__":
    main()
