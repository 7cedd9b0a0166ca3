"""Applications racing across real server processes: two servers of two workers each record
batches, single applications and selections for the same patterns and jobs at once, while
another process (`entropy-budget diversity fill`) registers a new half-life. Afterwards every
accumulator (per-job counts and the decayed weights of every scope and registered half-life)
equals the brute-force value computed from the stored applications: no weight lost, none
counted twice."""

import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.diversity.reference import agrees, stored_applications
from tests.support import uvicorn_server

pytestmark = pytest.mark.e2e

PATTERNS = [f"p{n}" for n in range(5)]
JOBS = ["job-a", "job-b", None]
REQUESTS = 120
CLI = [sys.executable, "-c", "from app.cli import main; main()"]


def test_racing_writers_lose_no_weight(database_url: str, engine: Engine, log_dir: Path) -> None:
    with (
        uvicorn_server(database_url, log_dir, workers=2) as first,
        uvicorn_server(
            database_url, log_dir, workers=2, extra_env={"DIVERSITY_HALF_LIVES": "300,60"}
        ) as second,
        httpx.Client(timeout=60) as http,
    ):
        servers = [first.base_url, second.base_url]
        for pattern_id in PATTERNS:
            created = http.post(
                f"{servers[0]}/v1/patterns",
                json={"id": pattern_id, "pattern_type": "t", "pattern_name": pattern_id},
            )
            assert created.status_code == 201, created.text

        def send(position: int) -> httpx.Response | subprocess.CompletedProcess[str]:
            if position == REQUESTS // 2:  # an operator registers a half-life mid-race
                return subprocess.run(
                    [*CLI, "diversity", "fill", "120"],
                    env={**os.environ, "DATABASE_URL": database_url},
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
            rng = random.Random(position)
            server = servers[position % 2]
            job = rng.choice(JOBS)
            if position % 3 == 0 and job is not None:  # a selection records one application
                return http.post(
                    f"{server}/v1/jobs/{job}/selections",
                    json={"execution_id": f"sel-{position}", "seed": position},
                )
            items = [
                {
                    "pattern_id": rng.choice(PATTERNS),
                    "execution_id": f"exec-{position}-{n}",
                    "pattern_led_to_success": rng.choice([True, False]),
                    **({"job_hash": job} if job else {}),
                }
                for n in range(rng.randint(1, 30))
            ]
            return http.post(f"{server}/v1/pattern-applications", json={"applications": items})

        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(send, range(REQUESTS)))

    filled = answers.pop(REQUESTS // 2)
    assert isinstance(filled, subprocess.CompletedProcess)
    assert filled.returncode == 0, filled.stderr
    assert "registered 120 s" in filled.stdout
    assert [getattr(a, "status_code", None) for a in answers] == [201] * (REQUESTS - 1)
    applications = stored_applications(engine)
    assert len(applications) > REQUESTS

    with engine.connect() as connection:
        registered = (
            connection.execute(
                text("SELECT half_life_seconds FROM diversity_half_lives ORDER BY 1")
            )
            .scalars()
            .all()
        )
        counts = {
            (job, pattern): count
            for job, pattern, count in connection.execute(
                text("SELECT job_hash, pattern_id, application_count FROM job_pattern_counts")
            )
        }
        weights = connection.execute(
            text(
                "SELECT job_hash, pattern_id, half_life_seconds, landmark_us, weight "
                "FROM diversity_weights"
            )
        ).all()
    # Both servers' settings registered (the first server's defaults, the second's 60 s).
    assert registered == [60, 120, 300, 3600, 86400]

    assert counts == Counter(
        (a.job_hash, a.pattern_id) for a in applications if a.job_hash is not None
    )
    at_us = max(a.applied_us for a in applications)
    expected: dict[tuple[str, str, int], float] = defaultdict(float)
    for half_life in registered:
        for application in applications:
            weight = 2.0 ** ((application.applied_us - at_us) / (half_life * 1_000_000))
            expected[("", application.pattern_id, half_life)] += weight
            if application.job_hash is not None:
                expected[(application.job_hash, application.pattern_id, half_life)] += weight
    assert {(j, p, h) for j, p, h, _, _ in weights} == set(expected)
    for job_key, pattern_id, half_life, landmark_us, weight in weights:
        at_measurement = weight * 2.0 ** ((landmark_us - at_us) / (half_life * 1_000_000))
        assert agrees(at_measurement, expected[(job_key, pattern_id, half_life)]), (
            job_key,
            pattern_id,
            half_life,
        )
