"""POST /v1/jobs/{job_hash}/entropy-readings: adjustment, check and response in one call.

Expected numbers follow the seed: defaults floor 0.05, ceiling 0.50, decay 0.95, boost 0.10,
threshold 0.3, initial 0.15; the response boosts by 0.10 from the budget the adjustment left.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select

from app.models import JobHead
from tests.orchestrator.helpers import (
    DEFAULT_POLICY,
    JOB,
    REVISIT_REASON,
    Json,
    apply_pattern,
    assert_budget,
    assert_problem,
    count_rows,
    create_pattern,
    diversity,
    error_locations,
    get_pattern,
    policy_url,
    read,
    readings_url,
    set_budget,
    store_policy,
    table_rows,
)
from tests.support import ManualClock

LOW_REASON = "Entropy 0.100 < threshold 0.300"
HEALTHY_AT_DEFAULTS: Json = {
    "needs_response": False,
    "reason": "Entropy 0.500 >= threshold 0.300 (healthy)",
    "status": "healthy",
}
LOW_AT_DEFAULTS: Json = {
    "needs_response": True,
    "reason": LOW_REASON,
    "status": "below_threshold",
}


def assert_response_boost(budget: Json, value: float, entropy: float, threshold: float) -> None:
    """The budget record an entropy response writes."""
    reason = f"Entropy response: diversity {entropy:.3f} < {threshold:.3f}"
    assert_budget(budget, value, "boost", reason, entropy=entropy)


def assert_only_adjusted(result: Json) -> None:
    """No response ran: the job's budget is the adjustment itself."""
    assert result["response"] is None
    assert result["budget"] == result["adjustment"]


def quarantine_patterns(client: TestClient, clock: ManualClock, count: int) -> list[str]:
    """Quarantined patterns q-0..q-(count-1), each seen one second after the previous."""
    ids = [f"q-{number}" for number in range(count)]
    for pattern_id in ids:
        create_pattern(client, pattern_id, "quarantined")
        clock.advance(1)
    return ids


def test_the_first_reading_writes_the_initial_budget(client: TestClient, engine: Engine) -> None:
    result = read(client, 0.5)

    assert set(result) == {"adjustment", "response", "response_check", "budget", "diversity"}
    assert result["diversity"] is None  # the entropy was given: nothing measured
    assert_budget(result["adjustment"], 0.15, "initial", "Initial budget set", entropy=0.5)
    assert result["response_check"] == HEALTHY_AT_DEFAULTS
    assert_only_adjusted(result)
    assert count_rows(engine, "exploration_budget") == 1
    assert count_rows(engine, "entropy_responses") == 0


def test_a_healthy_reading_decays_the_budget(client: TestClient) -> None:
    read(client, 0.5)

    result = read(client, 0.5)

    reason = "Entropy 0.500 >= threshold, decaying"
    assert_budget(result["adjustment"], 0.15 * 0.95, "decay", reason, entropy=0.5)
    assert result["response_check"] == HEALTHY_AT_DEFAULTS
    assert_only_adjusted(result)


def test_a_low_reading_boosts_twice_first_the_adjustment_then_the_response(
    client: TestClient, engine: Engine
) -> None:
    initial = read(client, 0.5)["adjustment"]

    result = read(client, 0.1)

    adjustment, response, budget = result["adjustment"], result["response"], result["budget"]
    assert_budget(adjustment, 0.25, "boost", LOW_REASON, entropy=0.1)
    assert result["response_check"] == LOW_AT_DEFAULTS
    assert response["job_hash"] == JOB
    assert response["entropy_at_trigger"] == pytest.approx(0.1)
    assert response["threshold_used"] == pytest.approx(0.3)
    assert response["actions_taken"] == ["budget_boost"]
    assert response["budget_boosted"] is True
    assert response["quarantine_revisits"] == 0
    assert response["patterns_revisited"] == []
    assert_response_boost(budget, 0.35, 0.1, 0.3)
    history = client.get("/v1/budget/history", params={"job_hash": JOB}).json()["items"]
    assert [record["id"] for record in history] == [budget["id"], adjustment["id"], initial["id"]]
    assert client.get("/v1/budget", params={"job_hash": JOB}).json() == budget
    latest_response = client.get("/v1/entropy-responses/latest", params={"job_hash": JOB})
    assert latest_response.json() == response
    assert count_rows(engine, "entropy_responses") == 1


def test_a_low_first_reading_starts_at_the_initial_budget_and_the_response_boosts_it(
    client: TestClient,
) -> None:
    result = read(client, 0.1)

    assert_budget(result["adjustment"], 0.15, "initial", "Initial budget set", entropy=0.1)
    assert result["response_check"] == LOW_AT_DEFAULTS
    assert_response_boost(result["budget"], 0.25, 0.1, 0.3)


def test_readings_use_the_numbers_of_the_jobs_stored_policy(client: TestClient) -> None:
    store_policy(
        client,
        {
            "initial_budget": 0.2,
            "boost_amount": 0.2,
            "decay_rate": 0.5,
            "response": {"budget_boost_amount": 0.05},
        },
    )

    first = read(client, 0.5)
    low = read(client, 0.1)
    healthy = read(client, 0.5)

    assert first["adjustment"]["budget_value"] == pytest.approx(0.2)
    assert low["adjustment"]["budget_value"] == pytest.approx(0.4)
    assert_response_boost(low["budget"], 0.45, 0.1, 0.3)
    assert_budget(
        healthy["adjustment"], 0.225, "decay", "Entropy 0.500 >= threshold, decaying", entropy=0.5
    )


def test_a_policy_put_between_readings_applies_from_the_next_reading(client: TestClient) -> None:
    read(client, 0.5)
    store_policy(client, {"decay_rate": 0.5})
    halved = read(client, 0.5)
    store_policy(client, {"decay_rate": 0.8})
    then = read(client, 0.5)

    assert halved["adjustment"]["budget_value"] == pytest.approx(0.075)
    assert then["adjustment"]["budget_value"] == pytest.approx(0.06)


def test_a_policy_stays_in_force_when_the_jobs_first_record_is_not_a_reading(
    client: TestClient, engine: Engine
) -> None:
    """The policy's version lives on the job's head: a head created by another writer (here a
    direct budget update) must keep it, or readings would fall back to the defaults."""
    store_policy(client, {"decay_rate": 0.5})
    set_budget(client, 0.4)

    after = read(client, 0.5)

    assert after["adjustment"]["budget_value"] == pytest.approx(0.2)
    with engine.connect() as connection:
        assert connection.execute(select(JobHead.policy_version)).scalars().all() == [1]


def test_every_record_a_reading_answers_with_is_stored_exactly_as_answered(
    client: TestClient, clock: ManualClock
) -> None:
    """Floats that need all 17 digits, microseconds, and a response's boost: what was
    answered is what the database holds, value for value (the batched insert carries the
    rows as one JSON document on PostgreSQL)."""
    clock.advance(0.000123)
    bodies = []
    for entropy in (0.1 + 0.2, 1 / 3, 0.05, 0.7):
        bodies.append(read(client, entropy))
        # The last record written is the most recent, even beside one of the same microsecond
        # (the low reading's adjustment and its response's boost): rows keep their order.
        current = client.get("/v1/budget", params={"job_hash": JOB}).json()
        assert current == bodies[-1]["budget"]

    answered = [b[k] for b in bodies for k in ("adjustment", "budget") if b[k] is not None]
    stored = [client.get(f"/v1/budget/records/{record['id']}").json() for record in answered]

    assert stored == answered
    assert {record["adjustment_type"] for record in stored} >= {"initial", "boost", "decay"}
    assert any(record["recorded_at"].endswith(".000123Z") for record in stored), stored


def test_the_adjustment_and_the_check_use_their_own_thresholds(client: TestClient) -> None:
    store_policy(client, {"entropy_threshold": 0.6, "response": {"threshold": 0.2}})
    read(client, 0.5)

    between = read(client, 0.4)
    below_both = read(client, 0.1)

    assert_budget(
        between["adjustment"], 0.25, "boost", "Entropy 0.400 < threshold 0.600", entropy=0.4
    )
    assert between["response_check"] == {
        "needs_response": False,
        "reason": "Entropy 0.400 >= threshold 0.200 (healthy)",
        "status": "healthy",
    }
    assert_only_adjusted(between)
    assert below_both["response_check"] == {
        "needs_response": True,
        "reason": "Entropy 0.100 < threshold 0.200",
        "status": "below_threshold",
    }
    assert below_both["response"]["threshold_used"] == pytest.approx(0.2)
    assert_response_boost(below_both["budget"], 0.45, 0.1, 0.2)


def test_policy_overrides_apply_to_that_request_only(client: TestClient, engine: Engine) -> None:
    etag = store_policy(client, {"decay_rate": 0.8})
    read(client, 0.5)

    overridden = read(client, 0.5, policy={"decay_rate": 0.5})
    following = read(client, 0.5)

    assert overridden["adjustment"]["budget_value"] == pytest.approx(0.15 * 0.5)
    assert following["adjustment"]["budget_value"] == pytest.approx(0.15 * 0.5 * 0.8)
    assert client.get(policy_url()).headers["etag"] == etag
    assert count_rows(engine, "job_policies") == 1


def test_a_response_override_applies_to_that_request_only(client: TestClient) -> None:
    disabled = read(client, 0.1, policy={"response": {"enabled": False}})
    following = read(client, 0.1)

    assert disabled["response_check"]["status"] == "disabled"
    assert_only_adjusted(disabled)
    assert following["response_check"] == LOW_AT_DEFAULTS
    assert following["response"] is not None
    assert client.get(policy_url()).json() == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("stored", "overrides"),
    [
        ({}, {"floor": 0.6}),
        ({}, {"initial_budget": 0.9}),
        # Valid over the defaults, but not over this job's floor of 0.2.
        ({"floor": 0.2, "initial_budget": 0.25, "ceiling": 0.3}, {"ceiling": 0.15}),
    ],
    ids=["floor-above-ceiling", "initial-above-ceiling", "ceiling-below-stored-floor"],
)
def test_invalid_merged_overrides_are_422_at_body_policy_and_write_nothing(
    client: TestClient, engine: Engine, stored: Json, overrides: Json
) -> None:
    if stored:
        store_policy(client, stored)
    read(client, 0.5)
    before = table_rows(engine)

    response = client.post(readings_url(), json={"entropy": 0.1, "policy": overrides})

    assert error_locations(assert_problem(response, 422)) == [["body", "policy"]]
    assert table_rows(engine) == before


def test_an_invalid_reading_is_422_and_writes_nothing(client: TestClient, engine: Engine) -> None:
    invalid: list[Json] = [
        {"entropy": 1.5},
        {"entropy": -0.1},
        {"entropy": "0.5"},
        {"entropy": 0.5, "surprise": 1},
        {"entropy": 0.5, "policy": {"surprise": 1}},
        {"entropy": 0.5, "policy": {"decay_rate": 0}},
    ]
    for body in invalid:
        assert_problem(client.post(readings_url(), json=body), 422)

    assert count_rows(engine, "exploration_budget") == 0


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            {"ceiling": 0.3, "response": {"budget_boost_amount": 0.2}},
            (0.3, "ceiling_enforced", "Budget 0.450 enforced to ceiling 0.300"),
        ),
        (
            {"ceiling": 0.9, "initial_budget": 0.45},  # above the seed's 0.50: the policy rules
            (0.65, "boost", "Entropy response: diversity 0.100 < 0.300"),
        ),
    ],
    ids=["clamped-to-policy-ceiling", "not-clamped-below-policy-ceiling"],
)
def test_the_response_clamps_to_the_policys_floor_and_ceiling(
    client: TestClient, policy: Json, expected: tuple[float, str, str]
) -> None:
    store_policy(client, policy)
    read(client, 0.5)

    result = read(client, 0.1)

    value, adjustment_type, reason = expected
    assert result["adjustment"]["adjustment_type"] == "boost"
    assert_budget(result["budget"], value, adjustment_type, reason, entropy=0.1)
    assert result["response"]["budget_boosted"] is True


@pytest.mark.parametrize("cooldown", [3600, 60])
def test_a_low_reading_within_the_cooldown_only_adjusts_and_after_it_responds_again(
    client: TestClient, clock: ManualClock, engine: Engine, cooldown: int
) -> None:
    response_policy = {} if cooldown == 3600 else {"cooldown_seconds": cooldown}
    store_policy(client, {"ceiling": 1.0, "response": response_policy})
    first = read(client, 0.1)  # initial 0.15, response 0.25
    clock.advance(cooldown - 1)

    cooling = read(client, 0.1)
    clock.advance(1)
    after = read(client, 0.1)

    assert first["response"] is not None
    assert_budget(cooling["adjustment"], 0.35, "boost", LOW_REASON, entropy=0.1)
    assert cooling["response_check"] == {
        "needs_response": False,
        "reason": "Cooldown active (1s remaining)",
        "status": "cooldown",
    }
    assert_only_adjusted(cooling)
    assert after["adjustment"]["budget_value"] == pytest.approx(0.45)
    assert after["response_check"] == LOW_AT_DEFAULTS
    assert_response_boost(after["budget"], 0.55, 0.1, 0.3)
    assert count_rows(engine, "entropy_responses") == 2


def test_the_cooldown_is_per_job_and_comes_before_the_entropy(client: TestClient) -> None:
    read(client, 0.1)

    healthy_while_cooling = read(client, 0.5)
    other_job = read(client, 0.1, job_hash="job-2")

    assert healthy_while_cooling["response_check"]["status"] == "cooldown"
    assert other_job["response_check"] == LOW_AT_DEFAULTS
    assert other_job["response"]["job_hash"] == "job-2"


def test_a_cooldown_of_zero_lets_every_low_reading_respond(
    client: TestClient, engine: Engine
) -> None:
    store_policy(client, {"response": {"cooldown_seconds": 0}})

    results = [read(client, 0.1) for _ in range(3)]

    assert [r["response_check"]["status"] for r in results] == ["below_threshold"] * 3
    assert count_rows(engine, "entropy_responses") == 3


def test_a_disabled_response_reports_disabled_and_only_adjusts(
    client: TestClient, clock: ManualClock, engine: Engine
) -> None:
    quarantine_patterns(client, clock, 1)
    store_policy(client, {"response": {"enabled": False}})
    read(client, 0.5)

    result = read(client, 0.1)

    assert_budget(result["adjustment"], 0.25, "boost", LOW_REASON, entropy=0.1)
    check = result["response_check"]
    assert check["status"] == "disabled"
    assert check["needs_response"] is False
    assert check["reason"]
    assert_only_adjusted(result)
    assert count_rows(engine, "entropy_responses") == 0
    assert get_pattern(client, "q-0")["quarantine_status"] == "quarantined"


def test_a_response_without_budget_boost_leaves_the_budget_at_the_adjustment(
    client: TestClient, engine: Engine
) -> None:
    store_policy(client, {"response": {"boost_budget": False}})
    read(client, 0.5)

    result = read(client, 0.1)

    assert result["response"]["budget_boosted"] is False
    assert result["response"]["actions_taken"] == []
    assert result["budget"] == result["adjustment"]
    assert count_rows(engine, "exploration_budget") == 2


@pytest.mark.parametrize(
    "counts",
    [(3, 1, 0), (38, 1, 1)],
    ids=["healthy-diversity", "low-diversity"],
)
def test_without_entropy_the_current_pattern_diversity_is_used(
    client: TestClient, counts: tuple[int, ...]
) -> None:
    for number, count in enumerate(counts):
        create_pattern(client, f"p-{number}")
        if count:
            apply_pattern(client, f"p-{number}", count)
    expected = diversity(counts)

    response = client.post(readings_url(), json={})

    assert response.status_code == 201, response.text
    result = response.json()
    assert result["adjustment"]["entropy_at_time"] == pytest.approx(expected)
    if expected < 0.3:
        assert result["response_check"]["reason"] == f"Entropy {expected:.3f} < threshold 0.300"
        assert result["response"]["entropy_at_trigger"] == pytest.approx(expected)
    else:
        assert result["response_check"]["reason"] == (
            f"Entropy {expected:.3f} >= threshold 0.300 (healthy)"
        )
        assert result["response"] is None


@pytest.mark.parametrize("patterns", [0, 2], ids=["no-patterns", "patterns-never-applied"])
def test_without_entropy_or_applications_to_measure_the_reading_is_422_and_writes_nothing(
    client: TestClient, engine: Engine, patterns: int
) -> None:
    for number in range(patterns):
        create_pattern(client, f"p-{number}")
    before = table_rows(engine)

    assert_problem(client.post(readings_url(), json={}), 422)

    assert table_rows(engine) == before


@pytest.mark.parametrize(
    ("response_policy", "revisits"),
    [({}, 3), ({"max_quarantine_revisits": 1}, 1), ({"max_quarantine_revisits": 0}, 0)],
    ids=["default-3", "policy-1", "policy-0"],
)
def test_the_readings_response_revisits_the_most_recently_seen_quarantined_patterns(
    client: TestClient, clock: ManualClock, response_policy: Json, revisits: int
) -> None:
    ids = quarantine_patterns(client, clock, 5)
    apply_pattern(client, "q-0")  # now q-0 is the most recently seen
    create_pattern(client, "pending-one")
    if response_policy:
        store_policy(client, {"response": response_policy})

    response = read(client, 0.1)["response"]

    expected = ["q-0", "q-4", "q-3", "q-2", "q-1"][:revisits]
    assert response["patterns_revisited"] == expected
    assert response["quarantine_revisits"] == revisits
    assert response["actions_taken"] == ["budget_boost"] + ["quarantine_revisit"] * bool(revisits)
    for pattern_id in ids:
        pattern = get_pattern(client, pattern_id)
        if pattern_id in expected:
            assert (pattern["quarantine_status"], pattern["quarantine_reason"]) == (
                "pending",
                REVISIT_REASON,
            )
        else:
            assert pattern["quarantine_status"] == "quarantined"
    assert get_pattern(client, "pending-one")["quarantine_reason"] is None


def test_a_response_with_revisits_disabled_touches_no_pattern(
    client: TestClient, clock: ManualClock
) -> None:
    quarantine_patterns(client, clock, 3)
    store_policy(client, {"response": {"revisit_quarantine": False}})
    before = client.get("/v1/patterns").json()

    response = read(client, 0.1)["response"]

    assert response["actions_taken"] == ["budget_boost"]
    assert response["quarantine_revisits"] == 0
    assert response["patterns_revisited"] == []
    assert client.get("/v1/patterns").json() == before


def test_concurrent_low_readings_of_one_job_form_one_chain_and_respond_once(
    client: TestClient, engine: Engine
) -> None:
    store_policy(
        client, {"ceiling": 1.0, "boost_amount": 0.01, "response": {"budget_boost_amount": 0.01}}
    )
    start = threading.Barrier(20)

    def low_reading(_: int) -> int:
        start.wait()
        response: Response = client.post(readings_url(), json={"entropy": 0.1})
        return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(low_reading, range(20)))

    assert statuses == [201] * 20
    history = client.get("/v1/budget/history", params={"job_hash": JOB, "limit": 100}).json()
    values = [record["budget_value"] for record in reversed(history["items"])]
    # initial 0.15, the one response's boost, then 19 adjustments of +0.01 (cooldown)
    assert values == pytest.approx([0.15 + 0.01 * step for step in range(21)])
    assert count_rows(engine, "entropy_responses") == 1
