"""Registered half-lives: registered and filled at startup, `entropy-budget diversity fill`
from the stored applications, `diversity drop`, and the 422 for a half-life not registered."""

import random
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app import cli
from tests.diversity.reference import (
    FIGURES,
    agrees,
    expected_metrics,
    stored_applications,
    stored_pattern_ids,
)
from tests.diversity.test_exactness import JOBS, measured, record_random_batch
from tests.patterns.helpers import create_patterns
from tests.support import ManualClock

runner = CliRunner()


@pytest.fixture
def diversity_cli(database_url: str) -> Callable[..., Any]:
    """Run `entropy-budget diversity ARGS...` against the test database."""

    def invoke(*args: str) -> Any:
        return runner.invoke(cli.cli, ["diversity", *args], env={"DATABASE_URL": database_url})

    return invoke


def registered(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                text("SELECT half_life_seconds FROM diversity_half_lives ORDER BY 1")
            ).scalars()
        )


def assert_agrees(client: TestClient, engine: Engine, clock: ManualClock, half_life: int) -> None:
    applications = stored_applications(engine)
    for job_hash in (None, *JOBS):
        body = measured(client, job_hash, half_life)
        reference = expected_metrics(
            applications,
            stored_pattern_ids(engine),
            job_hash=job_hash,
            half_life_seconds=half_life,
            at=clock.now,
        )
        for figure in FIGURES:
            assert agrees(body[figure], reference[figure]), (job_hash, figure)


def test_the_service_registers_its_configured_half_lives_at_startup(
    client: TestClient, engine: Engine
) -> None:
    assert registered(engine) == [300, 3600, 86400]


def test_fill_registers_a_half_life_from_the_stored_applications_and_writers_keep_it(
    client: TestClient, engine: Engine, clock: ManualClock, diversity_cli: Callable[..., Any]
) -> None:
    rng = random.Random(11)
    pattern_ids = [f"p{index}" for index in range(8)]
    create_patterns(client, *pattern_ids)
    for _ in range(12):
        record_random_batch(client, rng, pattern_ids)
        clock.advance(rng.uniform(0, 2000))

    result = diversity_cli("fill", "600", "300")
    assert result.exit_code == 0, result.output
    applications = len(stored_applications(engine))
    assert "registered 600 s: " in result.output
    assert f"from {applications} applications" in result.output
    assert "registered 300 s" not in result.output  # already registered: kept as it is
    assert registered(engine) == [300, 600, 3600, 86400]
    assert_agrees(client, engine, clock, 600)

    for _ in range(5):  # every writer now keeps 600 s as well
        record_random_batch(client, rng, pattern_ids)
        clock.advance(rng.uniform(0, 2000))
    assert_agrees(client, engine, clock, 600)


def test_drop_unregisters_a_half_life_and_deletes_its_weights(
    client: TestClient, engine: Engine, clock: ManualClock, diversity_cli: Callable[..., Any]
) -> None:
    create_patterns(client, "a", "b", "c")
    record_random_batch(client, random.Random(1), ["a", "b", "c"])

    result = diversity_cli("drop", "300")
    assert result.exit_code == 0, result.output
    assert registered(engine) == [3600, 86400]
    with engine.connect() as connection:
        left = connection.execute(
            text("SELECT count(*) FROM diversity_weights WHERE half_life_seconds = 300")
        ).scalar_one()
    assert left == 0

    response = client.get("/v1/pattern-entropy", params={"half_life_seconds": 300})
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["query", "half_life_seconds"]
    assert "registered: 3600, 86400" in problem["errors"][0]["msg"]

    again = diversity_cli("drop", "300")
    assert again.exit_code == 1
    assert "not registered" in again.output


@pytest.mark.parametrize("half_life", [1, 299, 100_000])
def test_a_half_life_that_is_not_registered_is_a_422_naming_the_registered_ones(
    client: TestClient, half_life: int
) -> None:
    for request in (
        lambda: client.get("/v1/pattern-entropy", params={"half_life_seconds": half_life}),
        lambda: client.post("/v1/pattern-entropy/snapshots", json={"half_life_seconds": half_life}),
    ):
        response = request()
        assert response.status_code == 422, response.text
        assert "registered: 300, 3600, 86400" in response.json()["detail"]


@pytest.mark.parametrize("value", [0, -300, 1.5, "300", 315_360_001])
def test_a_malformed_half_life_is_a_422(client: TestClient, value: object) -> None:
    response = client.post("/v1/pattern-entropy/snapshots", json={"half_life_seconds": value})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][:2] == ["body", "half_life_seconds"]
