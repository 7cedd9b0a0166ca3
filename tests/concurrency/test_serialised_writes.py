"""Read-modify-write is serialised per job: concurrent writers never fork a budget chain and
never revisit the same quarantined pattern twice."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, text

from app.budget import rules
from app.core.settings import Settings
from app.main import create_app
from tests.support import TEST_DATABASE, ManualClock, check_budget_chain

BOOST = 0.001


def boost(client: TestClient, job_hash: str) -> int:
    response = client.post(
        "/v1/budget/adjustments",
        json={"job_hash": job_hash, "current_entropy": 0.0, "boost_amount": BOOST, "ceiling": 1.0},
    )
    return response.status_code


BOOSTING = rules.AdjustmentPolicy(bounds=rules.Bounds(ceiling=1.0), boost_amount=BOOST)


def assert_unbroken_boost_chain(engine: Engine, job_hash: str, boosts: int) -> None:
    """One initial record, then each boost derived from exactly the record before it."""
    chain = check_budget_chain(engine, job_hash, BOOSTING)
    assert [record.adjustment_type for record in chain] == ["initial"] + ["boost"] * boosts
    assert chain[-1].budget_value == pytest.approx(0.15 + boosts * BOOST, abs=1e-12)


def test_concurrent_adjustments_of_one_job_from_many_threads_form_one_chain(
    client: TestClient, engine: Engine
) -> None:
    boosts = 200
    assert boost(client, "busy-job") == 201  # the initial record
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: boost(client, "busy-job"), range(boosts)))
    assert statuses == [201] * boosts
    assert_unbroken_boost_chain(engine, "busy-job", boosts)


@pytest.mark.skipif(TEST_DATABASE != "postgresql", reason="PostgreSQL's default isolation")
def test_concurrent_adjustments_form_one_chain_when_the_servers_default_is_repeatable_read(
    settings: Settings, clock: ManualClock, engine: Engine
) -> None:
    """A job's lock only orders its writers if each statement after it sees what the previous
    holder committed: writes run in READ COMMITTED whatever the database's default."""
    database = make_url(settings.database_url).database
    alter = f'ALTER DATABASE "{database}"'
    with engine.connect() as connection:
        connection.execute(text(f"{alter} SET default_transaction_isolation = 'repeatable read'"))
        connection.commit()
    try:
        with TestClient(create_app(settings, clock=clock)) as client:
            assert boost(client, "strict-job") == 201
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(lambda _: boost(client, "strict-job"), range(40)))
    finally:
        with engine.connect() as connection:
            connection.execute(
                text(f'ALTER DATABASE "{database}" RESET default_transaction_isolation')
            )
            connection.commit()
    assert statuses == [201] * 40
    assert_unbroken_boost_chain(engine, "strict-job", 40)


def test_concurrent_responses_never_revisit_the_same_pattern(client: TestClient) -> None:
    quarantined = 12
    for number in range(quarantined):
        created = client.post(
            "/v1/patterns",
            json={
                "id": f"p{number:02d}",
                "pattern_type": "t",
                "pattern_name": f"pattern {number}",
                "quarantine_status": "quarantined",
            },
        )
        assert created.status_code == 201

    def trigger(job_number: int) -> list[str]:
        response = client.post(
            "/v1/entropy-responses",
            json={
                "trigger": {
                    "job_hash": f"job-{job_number}",
                    "entropy_at_trigger": 0.1,
                    "threshold_used": 0.3,
                },
                "config": {"max_quarantine_revisits": 2},
            },
        )
        assert response.status_code == 201
        revisited: list[str] = response.json()["patterns_revisited"]
        return revisited

    with ThreadPoolExecutor(max_workers=10) as pool:
        revisited_per_response = list(pool.map(trigger, range(10)))

    every_revisit = [p for revisited in revisited_per_response for p in revisited]
    assert len(every_revisit) == len(set(every_revisit)) == quarantined
    pending = client.get("/v1/patterns", params={"quarantine_status": "pending"}).json()
    assert {p["id"] for p in pending["items"]} == set(every_revisit)
