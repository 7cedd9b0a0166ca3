"""The rate limit: per caller (API key, else client address) and worker process, a 429 problem
with Retry-After beyond it; health and metrics exempt."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.core.settings import Settings
from tests.security.conftest import READ_KEY, WRITE_KEY, bearer

PROBLEM = "application/problem+json"


def limited(settings: Settings, limit: str = "3/minute", **changes: object) -> Settings:
    return settings.model_copy(update={"rate_limit": limit, **changes})


def assert_429(response: object, window_seconds: int = 60) -> None:
    assert getattr(response, "status_code", None) == 429, getattr(response, "text", "")
    headers = getattr(response, "headers", {})
    assert headers["content-type"] == PROBLEM
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == 429
    assert body["type"] == "urn:entropy-budget:problem:too-many-requests"
    assert 1 <= int(headers["retry-after"]) <= window_seconds


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
def test_beyond_the_limit_a_429_with_retry_after(
    settings: Settings, make_client: Callable[..., TestClient], strategy: str
) -> None:
    client = make_client(limited(settings, rate_limit_strategy=strategy))
    for _ in range(3):
        assert client.get("/v1/jobs").status_code == 200
    assert_429(client.get("/v1/jobs"))
    # Every request counts, whatever its route or method.
    assert_429(
        client.post("/v1/budget/adjustments", json={"job_hash": "j", "current_entropy": 0.2})
    )


def test_the_lean_readings_route_is_limited_too(
    settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(limited(settings, "2/minute"))
    for _ in range(2):
        response = client.post("/v1/jobs/job-1/entropy-readings", json={"entropy": 0.2})
        assert response.status_code == 201
    assert_429(client.post("/v1/jobs/job-1/entropy-readings", json={"entropy": 0.2}))


def test_each_api_key_has_its_own_budget(
    keyed_settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(limited(keyed_settings, "2/minute"))
    for _ in range(2):
        assert client.get("/v1/jobs", headers=bearer(READ_KEY)).status_code == 200
    assert_429(client.get("/v1/jobs", headers=bearer(READ_KEY)))
    assert client.get("/v1/jobs", headers=bearer(WRITE_KEY)).status_code == 200


def test_anonymous_callers_are_counted_by_client_address(
    settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    first = make_client(limited(settings, "2/minute"))
    app = first.app
    other_address = TestClient(app, client=("203.0.113.9", 5000))
    for _ in range(2):
        assert first.get("/v1/jobs").status_code == 200
    assert_429(first.get("/v1/jobs"))
    assert other_address.get("/v1/jobs").status_code == 200


def test_health_and_metrics_are_exempt(
    settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(limited(settings, "1/minute"))
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code != 429
        assert client.get("/readyz").status_code != 429
    assert client.get("/v1/jobs").status_code == 200
    assert_429(client.get("/v1/jobs"))


def test_retry_after_counts_down_to_the_window(
    settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(limited(settings, "1 per 5 seconds"))
    assert client.get("/v1/jobs").status_code == 200
    response = client.get("/v1/jobs")
    assert_429(response, window_seconds=5)


def test_the_limit_can_be_turned_off(
    settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(limited(settings, "1/minute", rate_limit_enabled=False))
    for _ in range(5):
        assert client.get("/v1/jobs").status_code == 200


@pytest.mark.parametrize("value", ["", "many", "0/minute", "10/fortnight", "1/second;5/minute"])
def test_a_malformed_rate_limit_is_refused_at_startup(value: str) -> None:
    with pytest.raises(ValidationError, match="rate_limit"):
        Settings(rate_limit=value)


def test_the_default_limit() -> None:
    settings = Settings()
    assert settings.rate_limit_enabled
    assert settings.rate_limit_item.amount == 6000
    assert settings.rate_limit_item.get_expiry() == 60
    assert settings.rate_limit_strategy == "fixed-window"
