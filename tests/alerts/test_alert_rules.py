import pytest
from fastapi.testclient import TestClient

from app.alerts import rules


def alerts_by_rule(client: TestClient, job_hash: str = "") -> dict[str, dict[str, object]]:
    report = client.get("/v1/alerts", params={"job_hash": job_hash}).json()
    return {alert["rule"]: alert for alert in report["alerts"]}


def set_budget(client: TestClient, job_hash: str, value: float) -> None:
    response = client.post(
        "/v1/budget",
        json={"job_hash": job_hash, "budget_value": value, "adjustment_type": "manual"},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("floor_hits", "total", "firing"),
    [(0, 0, False), (3, 10, False), (4, 10, True), (1, 1, True)],
)
def test_floor_alert_fires_above_thirty_percent_of_adjustments(
    floor_hits: int, total: int, firing: bool
) -> None:
    assert rules.floor_pressure(floor_hits, total).firing is firing


@pytest.mark.parametrize(
    ("boosts", "decays", "firing"), [(0, 0, False), (2, 1, False), (3, 1, True), (1, 0, True)]
)
def test_boost_alert_fires_when_boosts_exceed_twice_the_decays(
    boosts: int, decays: int, firing: bool
) -> None:
    assert rules.boost_pressure(boosts, decays).firing is firing


@pytest.mark.parametrize(("share", "firing"), [(0.5, False), (0.51, True), (0.0, False)])
def test_dominant_pattern_alert_fires_above_half_of_applications(
    share: float, firing: bool
) -> None:
    assert rules.dominant_pattern(share).firing is firing


def test_alerts_endpoint_evaluates_the_job_statistics(client: TestClient) -> None:
    set_budget(client, "starved", 0.01)  # floor enforced
    set_budget(client, "starved", 0.2)
    set_budget(client, "healthy", 0.2)

    starved = alerts_by_rule(client, "starved")
    healthy = alerts_by_rule(client, "healthy")

    assert starved["budget_at_floor"]["firing"] is True
    assert starved["budget_at_floor"]["value"] == 0.5
    assert healthy["budget_at_floor"]["firing"] is False


def test_alerts_endpoint_flags_a_dominant_pattern(client: TestClient) -> None:
    for pattern_id in ("big", "small"):
        created = client.post(
            "/v1/patterns", json={"id": pattern_id, "pattern_type": "t", "pattern_name": pattern_id}
        )
        assert created.status_code == 201
    applications = [{"pattern_id": "big", "execution_id": "e", "pattern_led_to_success": True}] * 3
    applications.append(
        {"pattern_id": "small", "execution_id": "e", "pattern_led_to_success": True}
    )
    assert (
        client.post("/v1/pattern-applications", json={"applications": applications}).status_code
        == 201
    )

    dominant = alerts_by_rule(client)["dominant_pattern"]

    assert dominant["firing"] is True
    assert dominant["value"] == 0.75
