"""GET /v1/entropy-responses/check: cooldown (per job), no data, below threshold, healthy."""

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api_helpers import (
    apply_pattern,
    apply_patterns,
    assert_validation_problem,
    create_pattern,
    trigger_response,
)
from tests.support import ManualClock

CHECK = "/v1/entropy-responses/check"


def check(client: TestClient, job_hash: str = "job-a", **params: Any) -> dict[str, Any]:
    response = client.get(CHECK, params={"job_hash": job_hash, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def diversity(*counts: int) -> float:
    """The seed's diversity index: Shannon entropy in bits over log2 of the used patterns."""
    total = sum(counts)
    entropy = -sum(c / total * math.log2(c / total) for c in counts)
    return entropy / math.log2(len(counts)) if len(counts) > 1 else entropy


def test_no_applications_is_no_data(client: TestClient) -> None:
    assert check(client) == {
        "needs_response": False,
        "current_entropy": None,
        "reason": "No pattern applications to analyze",
        "status": "no_data",
    }


def test_patterns_without_applications_are_no_data(client: TestClient) -> None:
    create_pattern(client, "p1")
    create_pattern(client, "p2", "quarantined")
    body = check(client)
    assert (body["status"], body["current_entropy"]) == ("no_data", None)
    assert body["reason"] == "No pattern applications to analyze"


def test_one_used_pattern_has_zero_diversity_and_is_below_threshold(client: TestClient) -> None:
    create_pattern(client, "p1")
    create_pattern(client, "p2")  # never applied: does not count
    apply_pattern(client, "p1", 3)
    assert check(client) == {
        "needs_response": True,
        "current_entropy": 0.0,
        "reason": "Entropy 0.000 < threshold 0.300",
        "status": "below_threshold",
    }


def test_even_split_is_healthy(client: TestClient) -> None:
    create_pattern(client, "p1")
    create_pattern(client, "p2")
    apply_patterns(client, {"p1": 2, "p2": 2})
    assert check(client) == {
        "needs_response": False,
        "current_entropy": pytest.approx(1.0),
        "reason": "Entropy 1.000 >= threshold 0.300 (healthy)",
        "status": "healthy",
    }


def test_ninety_ten_split_has_diversity_0_469(client: TestClient) -> None:
    create_pattern(client, "p1")
    create_pattern(client, "p2")
    apply_patterns(client, {"p1": 9, "p2": 1})
    expected = -(0.9 * math.log2(0.9) + 0.1 * math.log2(0.1))  # / log2(2) = 1
    assert f"{expected:.3f}" == "0.469"
    healthy = check(client)
    assert healthy["current_entropy"] == pytest.approx(expected)
    assert healthy["status"] == "healthy"
    assert healthy["reason"] == "Entropy 0.469 >= threshold 0.300 (healthy)"
    low = check(client, entropy_threshold=0.5)
    assert low["status"] == "below_threshold"
    assert low["needs_response"] is True
    assert low["reason"] == "Entropy 0.469 < threshold 0.500"


def test_three_pattern_diversity_is_normalised_by_log2_of_used_patterns(
    client: TestClient,
) -> None:
    for pattern_id in ("p1", "p2", "p3"):
        create_pattern(client, pattern_id)
    apply_patterns(client, {"p1": 2, "p2": 1, "p3": 1})
    assert check(client)["current_entropy"] == pytest.approx(diversity(2, 1, 1))


def test_entropy_equal_to_threshold_is_healthy(client: TestClient) -> None:
    create_pattern(client, "p1")
    create_pattern(client, "p2")
    apply_patterns(client, {"p1": 1, "p2": 1})
    body = check(client, entropy_threshold=1.0)
    assert body["status"] == "healthy"
    assert body["needs_response"] is False
    assert body["reason"] == "Entropy 1.000 >= threshold 1.000 (healthy)"


def test_zero_entropy_with_threshold_zero_is_healthy(client: TestClient) -> None:
    create_pattern(client, "p1")
    apply_pattern(client, "p1")
    body = check(client, entropy_threshold=0.0)
    assert body["status"] == "healthy"
    assert body["reason"] == "Entropy 0.000 >= threshold 0.000 (healthy)"


def test_check_after_a_response_is_cooldown(client: TestClient) -> None:
    create_pattern(client, "p1")
    apply_pattern(client, "p1")
    trigger_response(client, "job-a")
    assert check(client) == {
        "needs_response": False,
        "current_entropy": None,
        "reason": "Cooldown active (3600s remaining)",
        "status": "cooldown",
    }


def test_cooldown_counts_down_with_the_clock(client: TestClient, clock: ManualClock) -> None:
    trigger_response(client, "job-a")
    clock.advance(1000)
    assert check(client)["reason"] == "Cooldown active (2600s remaining)"
    clock.advance(2599)
    body = check(client)
    assert (body["status"], body["reason"]) == ("cooldown", "Cooldown active (1s remaining)")


def test_cooldown_ends_after_exactly_cooldown_seconds(
    client: TestClient, clock: ManualClock
) -> None:
    create_pattern(client, "p1")
    apply_pattern(client, "p1")
    trigger_response(client, "job-a")
    clock.advance(3600)
    body = check(client)
    assert body["status"] == "below_threshold"
    assert body["needs_response"] is True
    assert body["current_entropy"] == 0.0


def test_cooldown_ended_without_data_is_no_data(client: TestClient, clock: ManualClock) -> None:
    trigger_response(client, "job-a")
    clock.advance(3601)
    assert check(client)["status"] == "no_data"


def test_cooldown_is_measured_from_the_latest_response(
    client: TestClient, clock: ManualClock
) -> None:
    trigger_response(client, "job-a")
    clock.advance(3000)
    trigger_response(client, "job-a")
    clock.advance(1000)
    assert check(client)["reason"] == "Cooldown active (2600s remaining)"


def test_cooldown_seconds_parameter_is_respected(client: TestClient, clock: ManualClock) -> None:
    trigger_response(client, "job-a")
    clock.advance(30)
    assert check(client, cooldown_seconds=60)["reason"] == "Cooldown active (30s remaining)"
    clock.advance(30)
    assert check(client, cooldown_seconds=60)["status"] == "no_data"
    assert check(client)["status"] == "cooldown"


def test_cooldown_seconds_zero_disables_the_cooldown(client: TestClient) -> None:
    trigger_response(client, "job-a")
    assert check(client, cooldown_seconds=0)["status"] == "no_data"


def test_cooldown_is_per_job(client: TestClient) -> None:
    create_pattern(client, "p1")
    apply_pattern(client, "p1")
    trigger_response(client, "job-a")
    assert check(client, "job-a")["status"] == "cooldown"
    other = check(client, "job-b")
    assert other["status"] == "below_threshold"
    assert other["current_entropy"] == 0.0


def test_cooldown_takes_precedence_over_entropy(client: TestClient) -> None:
    create_pattern(client, "p1")
    create_pattern(client, "p2")
    apply_patterns(client, {"p1": 1, "p2": 1})
    trigger_response(client, "job-a")
    body = check(client)
    assert (body["status"], body["current_entropy"]) == ("cooldown", None)


def test_check_writes_nothing(client: TestClient) -> None:
    create_pattern(client, "p1")
    apply_pattern(client, "p1")
    check(client)
    assert client.get("/v1/entropy-responses/history").json()["items"] == []
    assert client.get("/v1/budget/history").json()["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="job-missing"),
        pytest.param({"job_hash": ""}, id="job-empty"),
        pytest.param({"job_hash": "job a"}, id="job-space"),
        pytest.param({"job_hash": "x" * 129}, id="job-129-chars"),
        pytest.param({"job_hash": ".."}, id="job-dot-dot"),
        pytest.param({"job_hash": "."}, id="job-dot"),
        pytest.param({"job_hash": "job-a", "entropy_threshold": 1.5}, id="threshold-above-1"),
        pytest.param({"job_hash": "job-a", "entropy_threshold": -0.1}, id="threshold-negative"),
        pytest.param({"job_hash": "job-a", "entropy_threshold": "nan"}, id="threshold-nan"),
        pytest.param({"job_hash": "job-a", "entropy_threshold": "inf"}, id="threshold-inf"),
        pytest.param({"job_hash": "job-a", "entropy_threshold": "x"}, id="threshold-text"),
        pytest.param({"job_hash": "job-a", "cooldown_seconds": -1}, id="cooldown-negative"),
        pytest.param({"job_hash": "job-a", "cooldown_seconds": 1.5}, id="cooldown-fraction"),
        pytest.param({"job_hash": "job-a", "cooldown_seconds": "x"}, id="cooldown-text"),
    ],
)
def test_bad_check_parameters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    assert_validation_problem(client.get(CHECK, params=params))
