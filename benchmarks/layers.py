"""What each layer costs `/healthz`, in process: CPU time per ASGI call of the bare app and of
the service with every layer on, then with one layer off at a time, alternating in one run.

    .venv/bin/python -m benchmarks.layers

No HTTP and no database: the calls go straight to the ASGI apps, so the figures are the apps'
own CPU per request (uvicorn's parsing and the socket come on top of both, in
benchmarks/readings_throughput.py). The access log is written to a real file, as a server's
redirected output would be. A layer's cost is "that layer off" subtracted from "every layer on".
"""

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import Message

from app.core.settings import Settings
from app.main import create_app
from benchmarks.bare_app import app as bare
from benchmarks.harness import load_average, machine, write_report
from benchmarks.readings_throughput import ALL_LAYERS_ENV, AUTHORIZED

EVERY_LAYER = {key.lower(): value for key, value in ALL_LAYERS_ENV.items()}
"""`readings_throughput`'s every-layer environment, as Settings' own field names."""
ONE_LAYER_OFF: Mapping[str, Mapping[str, Any]] = {
    "without the access log": {"access_log": False},
    "without the rate limit": {"rate_limit_enabled": False},
    "without a key configured": {"api_keys": ""},
    "without all three": {"access_log": False, "rate_limit_enabled": False, "api_keys": ""},
}


def _scope(path: str) -> dict[str, Any]:
    """What uvicorn hands the app for `GET path`, with wrk's headers and the benchmark's key."""
    headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk")]
    headers += [(name.lower().encode(), value.encode()) for name, value in AUTHORIZED.items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        raise RuntimeError(f"expected 200, got {message['status']}")


async def _microseconds_per_call(app: FastAPI, path: str, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        await app(_scope(path), _receive, _send)
    return (time.process_time() - started) / calls * 1e6


async def _measure(
    apps: Mapping[str, tuple[FastAPI, str]], calls: int, rounds: int
) -> dict[str, float]:
    """Median CPU microseconds per call of each app, the apps taking turns in every round."""
    for app, path in apps.values():
        await _microseconds_per_call(app, path, calls // 10)  # warm up
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, (app, path) in apps.items():
            samples[name].append(await _microseconds_per_call(app, path, calls))
    return {name: round(statistics.median(values), 1) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000, help="calls per app per round")
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "access.log"
        database_url = f"sqlite:///{Path(scratch) / 'layers.db'}"
        with log.open("w") as sink, contextlib.redirect_stderr(sink):
            service = {
                variant: create_app(
                    Settings(**{**EVERY_LAYER, "database_url": database_url, **off})
                )
                for variant, off in {"every layer on": {}, **ONE_LAYER_OFF}.items()
            }
            apps = {"bare app": (bare, "/")}
            apps |= {f"/healthz, {variant}": (app, "/healthz") for variant, app in service.items()}
            figures = asyncio.run(_measure(apps, options.calls, options.rounds))
    every_layer = figures["/healthz, every layer on"]
    report = {
        "machine": machine(),
        "load_average": load_average(),
        "calls_per_round": options.calls,
        "rounds": options.rounds,
        "cpu_us_per_call": figures,
        "bare_over_every_layer": round(figures["bare app"] / every_layer, 3),
        "layer_cost_us": {
            variant.removeprefix("without "): round(
                every_layer - figures[f"/healthz, {variant}"], 1
            )
            for variant in ONE_LAYER_OFF
        },
    }
    write_report("layers", report)


if __name__ == "__main__":
    main()
