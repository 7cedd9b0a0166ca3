"""Real servers started as production starts them (`entropy-budget serve`, two workers): the
metrics of both worker processes add up, and the logs are JSON lines with request ids."""

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, text

from tests.observability.scrape import (
    READINGS_ROUTE,
    Samples,
    by_label,
    parse,
    requests_of,
    value,
)
from tests.support import Server, uvicorn_server

pytestmark = pytest.mark.e2e

JOBS = [f"job-{n}" for n in range(8)]
ENTROPIES = (0.5, 0.2, 0.9, 0.6, 0.2)  # initial, boost + response, decay, decay, boost
HEX_ID = "abc123" + "0" * 26


def fresh_scrape(server: Server) -> Samples:
    """GET /metrics on a new connection, so scrapes land on either worker."""
    response = httpx.get(f"{server.base_url}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    return parse(response.text)


def wait_for_workers(server: Server, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if value(fresh_scrape(server), "entropy_budget_worker_processes") == workers:
            return
        time.sleep(0.2)
    raise AssertionError(f"{workers} workers did not start:\n{server.log_path.read_text()}")


def send_readings(server: Server) -> int:
    """Every job's readings in order (one thread per job), each on a new connection."""

    def run(job: str) -> int:
        for entropy in ENTROPIES:
            response = httpx.post(
                f"{server.base_url}/v1/jobs/{job}/entropy-readings",
                json={"entropy": entropy},
                timeout=30,
            )
            assert response.status_code == 201, response.text
        return len(ENTROPIES)

    with ThreadPoolExecutor(max_workers=len(JOBS)) as pool:
        return sum(pool.map(run, JOBS))


def readings_per_worker(metrics_dir: Path) -> dict[str, float]:
    """Each worker's own count of answered readings, from its own file."""
    counts: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.split("_")[1]
        for metric in MultiProcessCollector.merge([str(path)]):
            for sample in metric.samples:
                if (
                    sample.name == "entropy_budget_http_requests_total"
                    and sample.labels.get("route") == READINGS_ROUTE
                ):
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def database_totals(engine: Engine) -> tuple[Counter[str], int, dict[str, float]]:
    with engine.connect() as connection:
        types = Counter(
            dict(
                connection.execute(
                    text("SELECT adjustment_type, COUNT(*) FROM exploration_budget GROUP BY 1")
                ).all()
            )
        )
        responses = connection.execute(text("SELECT COUNT(*) FROM entropy_responses")).scalar_one()
        latest = {
            job: connection.execute(
                text(
                    "SELECT budget_value FROM exploration_budget WHERE job_hash = :job"
                    " ORDER BY job_seq DESC LIMIT 1"
                ),
                {"job": job},
            ).scalar_one()
            for job in JOBS
        }
    return types, responses, latest


def test_the_metrics_of_two_worker_processes_add_up(
    database_url: str, engine: Engine, log_dir: Path, tmp_path: Path
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    with uvicorn_server(
        database_url, log_dir, workers=2, via_cli=True, extra_env={"TMPDIR": str(temp)}
    ) as server:
        # `serve` made a private PROMETHEUS_MULTIPROC_DIR for its workers.
        (metrics_dir,) = temp.glob("entropy-budget-metrics-*")
        wait_for_workers(server, 2)
        assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200

        sent = send_readings(server)
        for _ in range(5):  # new connections spread over both workers; make sure they did
            if len(readings_per_worker(metrics_dir)) == 2:
                break
            sent += send_readings(server)
        per_worker = readings_per_worker(metrics_dir)
        assert len(per_worker) == 2, per_worker
        assert all(count > 0 for count in per_worker.values())
        assert sum(per_worker.values()) == sent

        types, responses, latest = database_totals(engine)
        assert sum(types.values()) > sent  # responses boost too
        scrapes = [fresh_scrape(server) for _ in range(6)]

    for samples in scrapes:  # whichever worker answered, the totals are the sum of both
        assert requests_of(samples, READINGS_ROUTE, "POST", 201) == sent
        assert (
            value(
                samples,
                "entropy_budget_http_request_duration_seconds_count",
                method="POST",
                route=READINGS_ROUTE,
                status="201",
            )
            == sent
        )
        assert value(samples, "entropy_budget_readings_total") == sent
        assert value(samples, "entropy_budget_reading_batch_size_sum") == sent
        adjustments = by_label(
            samples, "entropy_budget_budget_adjustments_total", "adjustment_type"
        )
        assert {kind: n for kind, n in adjustments.items() if n} == types
        assert value(samples, "entropy_budget_entropy_responses_total") == responses == len(JOBS)
        assert by_label(samples, "entropy_budget_job_budget", "job_hash") == latest
        assert value(samples, "entropy_budget_worker_processes") == 2
    assert not metrics_dir.exists()  # removed when the server stopped


def log_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines
    parsed = [json.loads(line) for line in lines]  # every line is JSON
    for line in parsed:
        assert {"timestamp", "level", "logger", "event", "request_id"} <= line.keys(), line
        assert line["timestamp"].endswith("Z")
    return parsed


def test_a_real_servers_log_lines_carry_the_request_id(database_url: str, log_dir: Path) -> None:
    with uvicorn_server(
        database_url, log_dir, workers=2, via_cli=True, extra_env={"LOG_LEVEL": "debug"}
    ) as server:
        created = httpx.post(
            f"{server.base_url}/v1/jobs/job-logs/entropy-readings",
            json={"entropy": 0.5},
            headers={"X-Request-ID": HEX_ID},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        assert created.headers["x-request-id"] == HEX_ID
        refused = httpx.get(
            f"{server.base_url}/v1/budget", headers={"X-Request-ID": "not an id!"}, timeout=30
        )
        assert refused.status_code == 200
        generated = refused.headers["x-request-id"]
        assert generated != "not an id!"
        assert len(generated) == 32

    lines = log_lines(server.log_path)

    (access,) = [
        line for line in lines if line["logger"] == "app.access" and line["request_id"] == HEX_ID
    ]
    assert access["event"] == "request"
    assert access["level"] == "info"
    assert access["method"] == "POST"
    assert access["path"] == "/v1/jobs/job-logs/entropy-readings"
    assert access["route"] == READINGS_ROUTE
    assert access["status"] == 201
    assert access["duration_ms"] > 0

    # The group-commit writer's thread names the requests of its batch.
    (batch,) = [
        line
        for line in lines
        if line["logger"] == "app.readings" and HEX_ID in line.get("request_ids", [])
    ]
    assert batch["event"] == "reading batch committed"
    assert batch["readings"] >= 1

    # A refused id is replaced, and the replacement is what the lines carry.
    (refused_access,) = [
        line for line in lines if line["logger"] == "app.access" and line["path"] == "/v1/budget"
    ]
    assert refused_access["request_id"] == generated
    assert refused_access["status"] == 200
    assert any(
        line["logger"] == "asgi_correlation_id" and generated in line["event"] for line in lines
    )
    # uvicorn's own lines come through the same formatter; its access log is off.
    assert any(line["logger"] == "uvicorn.error" for line in lines)
    assert not any(line["logger"] == "uvicorn.access" for line in lines)
