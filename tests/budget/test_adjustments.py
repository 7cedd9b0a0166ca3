"""POST /v1/budget/adjustments: initial budget, boost, decay and clamping over HTTP."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.api_helpers import adjust_budget, assert_rfc3339_utc, set_budget
from tests.support import ManualClock


def test_first_adjustment_writes_the_initial_budget(client: TestClient, clock: ManualClock) -> None:
    record = adjust_budget(client, "job-a", 0.9)
    assert record["job_hash"] == "job-a"
    assert record["budget_value"] == 0.15
    assert record["adjustment_type"] == "initial"
    assert record["adjustment_reason"] == "Initial budget set"
    assert record["entropy_at_time"] == 0.9
    assert_rfc3339_utc(record["recorded_at"], clock.now)


def test_first_adjustment_uses_the_requested_initial_budget(client: TestClient) -> None:
    record = adjust_budget(client, "job-a", 0.1, initial_budget=0.3)
    assert (record["budget_value"], record["adjustment_type"]) == (0.3, "initial")


def test_first_adjustment_ignores_low_entropy(client: TestClient) -> None:
    record = adjust_budget(client, "job-a", 0.0)
    assert (record["budget_value"], record["adjustment_type"]) == (0.15, "initial")


def test_initial_budget_above_ceiling_is_relabelled_ceiling_enforced(client: TestClient) -> None:
    record = adjust_budget(client, "job-a", 0.5, initial_budget=0.8)
    assert record["budget_value"] == 0.5
    assert record["adjustment_type"] == "ceiling_enforced"
    assert record["adjustment_reason"] == "Budget 0.800 enforced to ceiling 0.500"


def test_initial_budget_below_floor_is_relabelled_floor_enforced(client: TestClient) -> None:
    record = adjust_budget(client, "job-a", 0.5, initial_budget=0.02, floor=0.1)
    assert record["budget_value"] == 0.1
    assert record["adjustment_type"] == "floor_enforced"
    assert record["adjustment_reason"] == "Budget 0.020 enforced to floor 0.100"


def test_initial_budget_exactly_at_floor_stays_initial(client: TestClient) -> None:
    record = adjust_budget(client, "job-a", 0.5, initial_budget=0.05)
    assert (record["budget_value"], record["adjustment_type"]) == (0.05, "initial")


def test_entropy_below_threshold_boosts(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9)
    record = adjust_budget(client, "job-a", 0.2)
    assert record["adjustment_type"] == "boost"
    assert record["budget_value"] == pytest.approx(0.25)
    assert record["adjustment_reason"] == "Entropy 0.200 < threshold 0.300"
    assert record["entropy_at_time"] == 0.2


def test_entropy_equal_to_threshold_decays(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9)
    record = adjust_budget(client, "job-a", 0.3)
    assert record["adjustment_type"] == "decay"
    assert record["budget_value"] == pytest.approx(0.15 * 0.95)
    assert record["adjustment_reason"] == "Entropy 0.300 >= threshold, decaying"


def test_decay_multiplies_by_the_decay_rate(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9, initial_budget=0.4)
    record = adjust_budget(client, "job-a", 0.5, decay_rate=0.5)
    assert record["adjustment_type"] == "decay"
    assert record["budget_value"] == pytest.approx(0.2)
    assert record["adjustment_reason"] == "Entropy 0.500 >= threshold, decaying"


def test_repeated_decay_compounds(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9, initial_budget=0.4)
    adjust_budget(client, "job-a", 0.9)
    record = adjust_budget(client, "job-a", 0.9)
    assert record["budget_value"] == pytest.approx(0.4 * 0.95 * 0.95)


def test_custom_threshold_and_boost_amount_apply(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9)
    record = adjust_budget(client, "job-a", 0.6, entropy_threshold=0.7, boost_amount=0.05)
    assert record["adjustment_type"] == "boost"
    assert record["budget_value"] == pytest.approx(0.20)
    assert record["adjustment_reason"] == "Entropy 0.600 < threshold 0.700"


def test_boost_is_clamped_to_ceiling(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9, initial_budget=0.45)
    record = adjust_budget(client, "job-a", 0.1)
    assert record["budget_value"] == 0.5
    assert record["adjustment_type"] == "ceiling_enforced"
    assert record["adjustment_reason"] == "Budget 0.550 enforced to ceiling 0.500"


def test_decay_below_floor_is_relabelled_floor_enforced(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9, initial_budget=0.05)
    record = adjust_budget(client, "job-a", 0.9)
    # 0.05 * 0.95 = 0.0475 -> "0.048"
    assert record["budget_value"] == 0.05
    assert record["adjustment_type"] == "floor_enforced"
    assert record["adjustment_reason"] == "Budget 0.048 enforced to floor 0.050"


def test_adjustment_derives_from_the_latest_record_of_its_own_job(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9, initial_budget=0.4)
    adjust_budget(client, "job-b", 0.9, initial_budget=0.1)
    record = adjust_budget(client, "job-a", 0.1)
    assert record["budget_value"] == pytest.approx(0.5)
    assert record["adjustment_type"] == "boost"


def test_adjustment_derives_from_a_manually_set_budget(client: TestClient) -> None:
    set_budget(client, "job-a", 0.2)
    record = adjust_budget(client, "job-a", 0.1)
    assert record["adjustment_type"] == "boost"
    assert record["budget_value"] == pytest.approx(0.3)


def test_adjustment_derives_from_the_last_of_records_sharing_a_timestamp(
    client: TestClient,
) -> None:
    # The ManualClock does not move: all three records carry the same time.
    adjust_budget(client, "job-a", 0.9, initial_budget=0.1)
    adjust_budget(client, "job-a", 0.1)  # 0.2
    adjust_budget(client, "job-a", 0.1)  # 0.3
    record = adjust_budget(client, "job-a", 0.1)
    assert record["budget_value"] == pytest.approx(0.4)


def test_adjustment_answers_201_with_location_of_the_record(client: TestClient) -> None:
    response = client.post(
        "/v1/budget/adjustments", json={"job_hash": "job-a", "current_entropy": 0.9}
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/budget/records/{body['id']}"
    fetched = client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_records_of_one_job_chain_with_job_seq_one_to_n(
    client: TestClient, clock: ManualClock, engine: Engine
) -> None:
    adjust_budget(client, "job-a", 0.9)
    adjust_budget(client, "job-b", 0.9)
    adjust_budget(client, "job-a", 0.1)
    set_budget(client, "job-a", 0.3)
    clock.advance(5)
    adjust_budget(client, "job-b", 0.1)
    adjust_budget(client, "job-a", 0.9)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT job_hash, job_seq FROM exploration_budget ORDER BY seq")
        ).all()
    by_job: dict[str, list[int]] = {}
    for job_hash, job_seq in rows:
        by_job.setdefault(job_hash, []).append(job_seq)
    assert by_job == {"job-a": [1, 2, 3, 4], "job-b": [1, 2]}
