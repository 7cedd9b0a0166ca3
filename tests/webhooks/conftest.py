"""Fixtures for the webhook tests: an app that delivers quickly (short poll, short schedule,
private addresses allowed for the receiver on 127.0.0.1) and helpers to drive it."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.settings import Settings
from app.main import create_app
from tests.webhooks.receiver import Receiver

ALL_EVENTS = ["entropy_response.triggered", "pattern.status_changed"]
FAST: dict[str, Any] = {
    "webhooks_allow_private": True,
    "webhooks_poll_seconds": 0.05,
    "webhooks_retry_schedule": "0.2s,0.2s,0.2s",
    "webhooks_timeout_seconds": 2.0,
    "webhooks_lease_seconds": 10.0,
}


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(update=FAST)


@contextmanager
def delivering_app(settings: Settings, **overrides: Any) -> Iterator[TestClient]:
    """The app with its dispatcher running, on the real clock (signatures are checked against
    the real time by the reference library)."""
    with TestClient(create_app(settings.model_copy(update=overrides))) as client:
        yield client


@pytest.fixture
def app_client(fast_settings: Settings) -> Iterator[TestClient]:
    with delivering_app(fast_settings) as client:
        yield client


def create_endpoint(
    client: TestClient, target: str | Receiver, events: list[str] | None = None, **fields: Any
) -> tuple[str, str]:
    """A new endpoint's id and secret; for a receiver, the receiver then verifies every
    delivery it got with that secret when it stops."""
    url = target if isinstance(target, str) else target.url
    body = {"url": url, "events": events or ALL_EVENTS, **fields}
    answer = client.post("/v1/webhooks", json=body)
    assert answer.status_code == 201, answer.text
    if isinstance(target, Receiver):
        target.secret = answer.json()["secret"]
    return answer.json()["id"], answer.json()["secret"]


def trigger_response(client: TestClient, job_hash: str = "job-1", **config: Any) -> dict[str, Any]:
    answer = client.post(
        "/v1/entropy-responses",
        json={
            "trigger": {"job_hash": job_hash, "entropy_at_trigger": 0.1, "threshold_used": 0.3},
            "config": config,
        },
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def create_pattern(client: TestClient, pattern_id: str, status: str = "quarantined") -> None:
    answer = client.post(
        "/v1/patterns",
        json={
            "id": pattern_id,
            "pattern_type": "strategy",
            "pattern_name": pattern_id,
            "quarantine_status": status,
        },
    )
    assert answer.status_code == 201, answer.text


def attempts(client: TestClient, endpoint_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/webhooks/{endpoint_id}/attempts", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items
