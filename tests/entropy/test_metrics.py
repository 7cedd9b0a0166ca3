"""GET /v1/pattern-entropy: Shannon diversity of the pattern population (seed:
calculate_pattern_entropy), read from maintained counts but identical to the seed's scan."""

import math
import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.patterns.helpers import (
    apply_counts,
    apply_pattern,
    assert_problem,
    batch_items,
    create_patterns,
    first_loc,
    parse_time,
    population,
    post_batch,
)
from tests.support import ManualClock

METRIC_FIELDS = {
    "calculated_at",
    "shannon_entropy",
    "max_possible_entropy",
    "diversity_index",
    "unique_pattern_count",
    "effective_pattern_count",
    "total_applications",
    "dominant_pattern_share",
    "threshold_exceeded",
    "scope",
    "weighted_applications",
}
SEED_SCAN = """
    SELECT p.id, COUNT(pa.id) AS app_count
    FROM patterns p
    LEFT JOIN pattern_applications pa ON p.id = pa.pattern_id
    GROUP BY p.id
    ORDER BY p.id
"""


def metrics(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/pattern-entropy", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == METRIC_FIELDS
    return body


def seed_metrics(rows: list[tuple[str, int]]) -> dict[str, Any]:
    """calculate_pattern_entropy of the seed, step by step, over the scan's rows."""
    unique_count = len(rows)
    effective_rows = [row for row in rows if row[1] > 0]
    effective_count = len(effective_rows)
    total_apps = sum(row[1] for row in rows)
    if total_apps == 0 or effective_count == 0:
        return {
            "shannon_entropy": 0.0,
            "max_possible_entropy": 0.0,
            "diversity_index": 0.0,
            "unique_pattern_count": unique_count,
            "effective_pattern_count": 0,
            "total_applications": 0,
            "dominant_pattern_share": 0.0,
        }
    probabilities = [row[1] / total_apps for row in effective_rows]
    shannon_entropy = -sum(p * math.log2(p) for p in probabilities if p > 0)
    max_entropy = math.log2(effective_count) if effective_count > 1 else 1.0
    return {
        "shannon_entropy": shannon_entropy,
        "max_possible_entropy": max_entropy,
        "diversity_index": shannon_entropy / max_entropy if max_entropy > 0 else 0.0,
        "unique_pattern_count": unique_count,
        "effective_pattern_count": effective_count,
        "total_applications": total_apps,
        "dominant_pattern_share": max(probabilities),
    }


def scan(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        return [(row.id, row.app_count) for row in connection.execute(text(SEED_SCAN))]


def without_time(body: dict[str, Any]) -> dict[str, Any]:
    """The seed's figures (what its scan defines), without the time and the scope, which the
    global all-time default always has (checked here)."""
    assert body["scope"] == {"job_hash": None, "half_life_seconds": None}
    assert body["weighted_applications"] == body["total_applications"]
    return {
        k: v
        for k, v in body.items()
        if k not in {"calculated_at", "threshold_exceeded", "scope", "weighted_applications"}
    }


def test_no_patterns_is_all_zero(client: TestClient) -> None:
    body = metrics(client)
    assert without_time(body) == {
        "shannon_entropy": 0.0,
        "max_possible_entropy": 0.0,
        "diversity_index": 0.0,
        "unique_pattern_count": 0,
        "effective_pattern_count": 0,
        "total_applications": 0,
        "dominant_pattern_share": 0.0,
    }
    assert body["threshold_exceeded"] is False


def test_patterns_without_applications_are_all_zero_but_counted(client: TestClient) -> None:
    create_patterns(client, "a", "b", "c")
    body = metrics(client)
    assert body["unique_pattern_count"] == 3
    assert (body["shannon_entropy"], body["max_possible_entropy"], body["diversity_index"]) == (
        0,
        0,
        0,
    )
    assert (body["effective_pattern_count"], body["total_applications"]) == (0, 0)
    assert body["dominant_pattern_share"] == 0


def test_one_used_pattern_has_no_diversity(client: TestClient) -> None:
    population(client, {"only": 3})
    body = metrics(client)
    assert body["shannon_entropy"] == 0
    assert body["max_possible_entropy"] == 1.0
    assert body["diversity_index"] == 0
    assert body["dominant_pattern_share"] == 1.0
    assert (body["unique_pattern_count"], body["effective_pattern_count"]) == (1, 1)
    assert body["total_applications"] == 3


def test_even_split_over_four_is_two_bits(client: TestClient) -> None:
    population(client, {"a": 2, "b": 2, "c": 2, "d": 2})
    body = metrics(client)
    assert body["shannon_entropy"] == pytest.approx(2.0)  # log2(4)
    assert body["max_possible_entropy"] == pytest.approx(2.0)
    assert body["diversity_index"] == pytest.approx(1.0)
    assert body["dominant_pattern_share"] == 0.25
    assert (body["effective_pattern_count"], body["total_applications"]) == (4, 8)


def test_ninety_ten_split(client: TestClient) -> None:
    population(client, {"major": 90, "minor": 10})
    expected = -(0.9 * math.log2(0.9) + 0.1 * math.log2(0.1))
    body = metrics(client)
    assert body["shannon_entropy"] == pytest.approx(expected)
    assert body["max_possible_entropy"] == 1.0  # log2(2)
    assert body["diversity_index"] == pytest.approx(expected)
    assert body["dominant_pattern_share"] == pytest.approx(0.9)
    assert body["total_applications"] == 100


def test_an_unused_pattern_is_unique_but_not_effective(client: TestClient) -> None:
    population(client, {"a": 1, "b": 1, "idle": 0})
    body = metrics(client)
    assert (body["unique_pattern_count"], body["effective_pattern_count"]) == (3, 2)
    # Max entropy is log2(2) = 1, not log2(3): the idle pattern does not raise it.
    assert body["max_possible_entropy"] == pytest.approx(1.0)
    assert body["shannon_entropy"] == pytest.approx(1.0)
    assert body["diversity_index"] == pytest.approx(1.0)
    assert body["dominant_pattern_share"] == 0.5


def test_unknown_outcomes_and_failures_count_like_successes(client: TestClient) -> None:
    create_patterns(client, "a", "b")
    apply_pattern(client, "a", success=None)
    apply_pattern(client, "b", success=False)
    body = metrics(client)
    assert body["total_applications"] == 2
    assert body["diversity_index"] == pytest.approx(1.0)


def test_calculated_at_is_the_current_time(client: TestClient, clock: ManualClock) -> None:
    clock.advance(3600)
    assert parse_time(metrics(client)["calculated_at"]) == clock.now


def test_threshold_exceeded_when_diversity_is_below_the_alert_threshold(
    client: TestClient,
) -> None:
    population(client, {"major": 90, "minor": 10})  # diversity about 0.469
    for threshold, exceeded in [(0.5, True), (0.47, True), (0.46, False), (0, False), (1, True)]:
        body = metrics(client, alert_threshold=threshold)
        assert body["threshold_exceeded"] is exceeded, threshold


def test_threshold_is_not_exceeded_without_an_alert_threshold(client: TestClient) -> None:
    population(client, {"only": 1})  # diversity 0: below any positive threshold
    assert metrics(client)["threshold_exceeded"] is False
    assert metrics(client, alert_threshold=0.01)["threshold_exceeded"] is True


def test_diversity_equal_to_the_threshold_is_not_exceeded(client: TestClient) -> None:
    population(client, {"a": 1, "b": 1})  # diversity exactly 1.0
    assert metrics(client, alert_threshold=1.0)["threshold_exceeded"] is False


def test_alert_threshold_outside_the_unit_interval_is_422(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    for threshold in ("-0.01", "1.01", "nan", "NaN", "inf", "-inf", "Infinity", "x"):
        with subtests.test(threshold):
            response = client.get("/v1/pattern-entropy", params={"alert_threshold": threshold})
            assert first_loc(assert_problem(response, 422)) == ["query", "alert_threshold"]


def test_maintained_counts_give_exactly_the_seed_scan_result(
    client: TestClient, clock: ManualClock, engine: Engine
) -> None:
    """Diversity read from maintained per-pattern counts is identical to the seed's scan."""
    rng = random.Random(20260301)
    ids = [f"{rng.choice(['Alpha', 'beta', 'GAMMA', 'delta'])}-{n}" for n in range(14)]
    create_patterns(client, *ids)
    used = ids[:11]  # the last three stay unused
    weights = [rng.random() ** 3 + 0.01 for _ in used]
    for _ in range(6):
        clock.advance(rng.randint(1, 30))
        picks = rng.choices(used, weights=weights, k=rng.randint(1, 80))
        items = batch_items(picks)
        for item in items:
            item["pattern_led_to_success"] = rng.choice([True, False, None])
        assert post_batch(client, items).status_code == 201
    for pattern_id in rng.sample(used, 4):
        apply_pattern(client, pattern_id, success=rng.choice([True, False, None]))
    # A refused batch changes neither the scan nor the maintained counts.
    assert post_batch(client, batch_items([used[0], "not-a-pattern"])).status_code == 422

    rows = scan(engine)
    assert len(rows) == 14
    assert sum(1 for _, count in rows if count == 0) == 3
    assert without_time(metrics(client)) == seed_metrics(rows)
    listed = client.get("/v1/patterns", params={"limit": 100}).json()["items"]
    assert {p["id"]: p["application_count"] for p in listed} == dict(rows)


def test_metrics_follow_new_applications(client: TestClient, engine: Engine) -> None:
    population(client, {"a": 3})
    assert metrics(client)["diversity_index"] == 0
    create_patterns(client, "b", "c")
    apply_counts(client, {"b": 2, "c": 1})
    body = without_time(metrics(client))
    assert body == seed_metrics(scan(engine))
    assert body["dominant_pattern_share"] == pytest.approx(0.5)
    shares = (3 / 6, 2 / 6, 1 / 6)
    assert body["shannon_entropy"] == pytest.approx(-sum(p * math.log2(p) for p in shares))
    assert body["max_possible_entropy"] == pytest.approx(math.log2(3))
