"""The statistics as the scan of the records defines them, computed in Python from the rows:
the independent reference the maintained aggregates are checked against.

`budget_scan` and `response_scan` take the records (dicts with the table's columns) and return
the API's statistics for one job (`job_hash`) or every job (None). `assert_statistics_equal`
compares an API answer with a scan: every field exactly, but the average, which must be within
1e-12 relative of `math.fsum(values) / count`.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection, text

from app.core.orm import UTCDateTime

Record = Mapping[str, Any]
AVERAGES = ("avg_budget", "avg_entropy_at_trigger")


def budget_scan(records: Iterable[Record], job_hash: str | None) -> dict[str, Any]:
    mine = [r for r in records if not job_hash or r["job_hash"] == job_hash]
    if not mine:
        return {
            "current_budget": None,
            "avg_budget": 0.0,
            "min_budget": 0.0,
            "max_budget": 0.0,
            "total_adjustments": 0,
            "floor_enforcements": 0,
            "ceiling_enforcements": 0,
            "boost_count": 0,
            "decay_count": 0,
            "initial_count": 0,
        }
    values = [r["budget_value"] for r in mine]
    kinds = [r["adjustment_type"] for r in mine]
    latest = max(mine, key=lambda r: (r["recorded_at"], r["seq"]))
    return {
        "current_budget": latest["budget_value"],
        "avg_budget": math.fsum(values) / len(values),
        "min_budget": min(values),
        "max_budget": max(values),
        "total_adjustments": len(values),
        "floor_enforcements": kinds.count("floor_enforced"),
        "ceiling_enforcements": kinds.count("ceiling_enforced"),
        "boost_count": kinds.count("boost"),
        "decay_count": kinds.count("decay"),
        "initial_count": kinds.count("initial"),
    }


def response_scan(records: Iterable[Record], job_hash: str | None) -> dict[str, Any]:
    mine = [r for r in records if not job_hash or r["job_hash"] == job_hash]
    if not mine:
        return {
            "total_responses": 0,
            "avg_entropy_at_trigger": 0.0,
            "budget_boosts": 0,
            "quarantine_revisits": 0,
            "last_response": None,
        }
    entropy = [r["entropy_at_trigger"] for r in mine]
    return {
        "total_responses": len(mine),
        "avg_entropy_at_trigger": math.fsum(entropy) / len(entropy),
        "budget_boosts": sum(1 for r in mine if r["budget_boosted"]),
        "quarantine_revisits": sum(r["quarantine_revisits"] for r in mine),
        "last_response": max(r["recorded_at"] for r in mine),
    }


def read_records(
    connection: Connection, table: str, time_column: str = "recorded_at"
) -> list[dict[str, Any]]:
    """Every row of `table`, its time as an aware UTC datetime (SQLite stores naive text)."""
    times = UTCDateTime()
    rows = []
    for raw in connection.execute(text(f"SELECT * FROM {table}")).mappings():
        row = dict(raw)
        at = row[time_column]
        if isinstance(at, str):  # SQLite, read raw
            at = datetime.fromisoformat(at)
        row[time_column] = times.process_result_value(at, connection.dialect)
        rows.append(row)
    return rows


def assert_statistics_equal(answer: Mapping[str, Any], scan: Mapping[str, Any]) -> None:
    """The API's answer (JSON) equals the scan: averages within 1e-12 relative, times as
    instants, every other field exactly."""
    assert answer.keys() == scan.keys()
    for name, expected in scan.items():
        got = answer[name]
        if name in AVERAGES:
            assert got == pytest.approx(expected, rel=1e-12, abs=0), name
        elif isinstance(expected, datetime):
            assert datetime.fromisoformat(got) == expected, name
        else:
            assert got == expected, name


def jobs_of(records: Sequence[Record]) -> list[str]:
    return sorted({r["job_hash"] for r in records})


def random_history(client: Any, clock: Any, rng: Any, jobs: Sequence[str], steps: int) -> None:
    """Write a random history through every writer of budget and response records: direct
    updates (every type, values clamped or not), adjustments, readings (the batched writer)
    with their automatic responses, and explicit responses that boost and revisit."""
    for pattern in range(4):
        response = client.post(
            "/v1/patterns",
            json={
                "id": f"q-{pattern}",
                "pattern_type": "strategy",
                "pattern_name": f"quarantined {pattern}",
                "quarantine_status": "quarantined",
            },
        )
        assert response.status_code == 201, response.text
    kinds = ("initial", "decay", "boost", "floor_enforced", "ceiling_enforced", "manual")
    for _ in range(steps):
        job = rng.choice(jobs)
        operation = rng.random()
        if operation < 0.3:
            body: dict[str, Any] = {
                "job_hash": job,
                "budget_value": rng.random(),
                "adjustment_type": rng.choice(kinds),
                "floor": 0.05,
                "ceiling": rng.choice([0.5, 1.0]),
            }
            response = client.post("/v1/budget", json=body)
        elif operation < 0.5:
            response = client.post(
                "/v1/budget/adjustments", json={"job_hash": job, "current_entropy": rng.random()}
            )
        elif operation < 0.85:
            response = client.post(
                f"/v1/jobs/{job}/entropy-readings", json={"entropy": rng.random()}
            )
        else:
            response = client.post(
                "/v1/entropy-responses",
                json={
                    "trigger": {
                        "job_hash": job,
                        "entropy_at_trigger": rng.random(),
                        "threshold_used": 0.3,
                    },
                    "config": {
                        "boost_budget": rng.random() < 0.7,
                        "revisit_quarantine": True,
                        "max_quarantine_revisits": rng.randint(0, 2),
                    },
                },
            )
        assert response.status_code == 201, response.text
        if rng.random() < 0.3:
            clock.advance(rng.choice([0.000001, 1, 1800, 4000]))
