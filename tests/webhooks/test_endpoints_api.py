"""The webhook endpoints resource: create (the secret shown once), read, list, change, delete,
rotate; bad input is a 422 that writes nothing; the secret never shows up again, in answers or
in logs."""

import base64
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app.core.settings import Settings
from app.main import create_app
from app.models import WebhookEndpoint
from tests.support import ManualClock, eventually
from tests.webhooks.conftest import ALL_EVENTS, attempts, create_endpoint

URL = "https://8.8.8.8/hooks"


def test_creating_answers_201_with_the_secret_and_a_location(client: TestClient) -> None:
    answer = client.post(
        "/v1/webhooks", json={"url": URL, "events": ALL_EVENTS, "description": "Queue ✓"}
    )

    assert answer.status_code == 201
    body = answer.json()
    assert answer.headers["location"] == f"/v1/webhooks/{body['id']}"
    assert body | {"id": None, "secret": None} == {
        "id": None,
        "url": URL,
        "description": "Queue ✓",
        "events": ALL_EVENTS,
        "enabled": True,
        "disabled_reason": None,
        "previous_secret_expires_at": None,
        "created_at": "2026-03-01T12:00:00Z",
        "updated_at": "2026-03-01T12:00:00Z",
        "secret": None,
    }
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"), validate=True)) == 32


def test_reads_never_show_the_secret(client: TestClient) -> None:
    endpoint_id, secret = create_endpoint(client, URL)
    key_material = secret.removeprefix("whsec_")

    answers = [
        client.get(f"/v1/webhooks/{endpoint_id}"),
        client.get("/v1/webhooks"),
        client.get(f"/v1/webhooks/{endpoint_id}/attempts"),
        client.patch(f"/v1/webhooks/{endpoint_id}", json={"description": "changed"}),
        client.post(f"/v1/webhooks/{endpoint_id}/ping"),
    ]

    for answer in answers:
        assert answer.status_code < 300, answer.text
        assert key_material not in answer.text
        assert "secret" not in answer.json()


def test_the_secret_never_appears_in_the_logs(
    settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Every log line of creating, rotating, pinging and failing deliveries, at DEBUG."""
    caplog.set_level(logging.DEBUG)
    fast = settings.model_copy(
        update={"webhooks_poll_seconds": 0.05, "webhooks_retry_schedule": "0.05s"}
    )
    with TestClient(create_app(fast)) as app_client:
        created = app_client.post(
            "/v1/webhooks", json={"url": "https://127.0.0.1:9/", "events": ALL_EVENTS}
        )
        assert created.status_code == 422  # refused: its message is logged nowhere with a secret
        fast_private = create_app(fast.model_copy(update={"webhooks_allow_private": True}))
    with TestClient(fast_private) as app_client:
        endpoint_id, secret = create_endpoint(app_client, "http://127.0.0.1:9/hooks")
        rotated = app_client.post(f"/v1/webhooks/{endpoint_id}/rotate-secret").json()["secret"]
        app_client.post(f"/v1/webhooks/{endpoint_id}/ping")
        app_client.post(
            "/v1/entropy-responses",
            json={"trigger": {"job_hash": "j", "entropy_at_trigger": 0.1, "threshold_used": 0.3}},
        )
        # Nothing listens on port 9: attempts fail, are logged, retried, then failed.
        eventually(
            lambda: (
                (items := attempts(app_client, endpoint_id))
                and all(item["status"] == "failed" for item in items)
            )
        )

    text = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "webhook attempt failed" in text  # the failures were logged...
    for shown in (secret, rotated):
        assert shown.removeprefix("whsec_") not in text  # ...without a secret


def test_listing_pages_newest_first(client: TestClient, clock: ManualClock) -> None:
    ids = []
    for _ in range(5):
        ids.append(create_endpoint(client, URL)[0])
        clock.advance(1)

    first = client.get("/v1/webhooks", params={"limit": 3}).json()
    second = client.get("/v1/webhooks", params={"limit": 3, "cursor": first["next_cursor"]}).json()

    assert [e["id"] for e in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None


def test_a_patch_changes_only_the_fields_given(client: TestClient, clock: ManualClock) -> None:
    endpoint_id, _ = create_endpoint(client, URL, description="first")
    clock.advance(10)

    changed = client.patch(
        f"/v1/webhooks/{endpoint_id}",
        json={"events": ["pattern.status_changed"], "enabled": False},
    )
    cleared = client.patch(f"/v1/webhooks/{endpoint_id}", json={"description": None})

    assert changed.status_code == 200
    assert changed.json() | {"id": None} == {
        "id": None,
        "url": URL,
        "description": "first",
        "events": ["pattern.status_changed"],
        "enabled": False,
        "disabled_reason": None,
        "previous_secret_expires_at": None,
        "created_at": "2026-03-01T12:00:00Z",
        "updated_at": "2026-03-01T12:00:10Z",
    }
    assert cleared.json()["description"] is None
    assert client.get(f"/v1/webhooks/{endpoint_id}").json() == cleared.json()


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"events": ALL_EVENTS}, ["body", "url"]),
        ({"url": URL}, ["body", "events"]),
        ({"url": URL, "events": []}, ["body", "events"]),
        ({"url": URL, "events": ["budget.changed"]}, ["body", "events", 0]),
        ({"url": URL, "events": ["pattern.status_changed"] * 2}, ["body", "events"]),
        ({"url": URL, "events": ["ping"]}, ["body", "events", 0]),
        ({"url": URL, "events": ALL_EVENTS, "secret": "whsec_mine"}, ["body", "secret"]),
        ({"url": URL, "events": ALL_EVENTS, "enabled": "yes"}, ["body", "enabled"]),
        ({"url": "https://8.8.8.8/" + "a" * 2048, "events": ALL_EVENTS}, ["body", "url"]),
        ({"url": URL, "events": ALL_EVENTS, "description": "bell\u0007"}, ["body", "description"]),
    ],
)
def test_invalid_bodies_are_a_422_naming_the_field_and_create_nothing(
    client: TestClient, body: dict[str, object], location: list[object]
) -> None:
    answer = client.post("/v1/webhooks", json=body)

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == location
    assert client.get("/v1/webhooks").json()["items"] == []


@pytest.mark.parametrize("field", ["url", "events", "enabled"])
def test_a_patch_cannot_null_a_required_field(client: TestClient, field: str) -> None:
    endpoint_id, _ = create_endpoint(client, URL)
    answer = client.patch(f"/v1/webhooks/{endpoint_id}", json={field: None})
    assert answer.status_code == 422
    assert client.get(f"/v1/webhooks/{endpoint_id}").json()["url"] == URL


def test_rotating_keeps_the_previous_secret_for_24_hours_and_never_more_than_two(
    client: TestClient, clock: ManualClock, engine: Engine
) -> None:
    endpoint_id, first = create_endpoint(client, URL)

    rotated = client.post(f"/v1/webhooks/{endpoint_id}/rotate-secret").json()
    clock.advance(3600)
    again = client.post(f"/v1/webhooks/{endpoint_id}/rotate-secret").json()

    assert len({first, rotated["secret"], again["secret"]}) == 3
    assert rotated["previous_secret_expires_at"] == "2026-03-02T12:00:00Z"
    assert again["previous_secret_expires_at"] == "2026-03-02T13:00:00Z"
    with engine.connect() as connection:
        stored = connection.execute(
            select(WebhookEndpoint.secret, WebhookEndpoint.previous_secret).where(
                WebhookEndpoint.id == endpoint_id
            )
        ).one()
    assert tuple(stored) == (again["secret"], rotated["secret"])  # the first one is gone


def test_deleting_removes_the_endpoint_and_its_attempts(client: TestClient) -> None:
    endpoint_id, _ = create_endpoint(client, URL)
    client.post(f"/v1/webhooks/{endpoint_id}/ping")

    deleted = client.delete(f"/v1/webhooks/{endpoint_id}")

    assert deleted.status_code == 204
    assert deleted.content == b""
    for answer in (
        client.get(f"/v1/webhooks/{endpoint_id}"),
        client.get(f"/v1/webhooks/{endpoint_id}/attempts"),
        client.delete(f"/v1/webhooks/{endpoint_id}"),
        client.post(f"/v1/webhooks/{endpoint_id}/rotate-secret"),
        client.post(f"/v1/webhooks/{endpoint_id}/ping"),
        client.patch(f"/v1/webhooks/{endpoint_id}", json={"enabled": True}),
    ):
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"


def test_an_idempotent_create_replays_without_a_second_endpoint(client: TestClient) -> None:
    body = {"url": URL, "events": ALL_EVENTS}
    first = client.post("/v1/webhooks", json=body, headers={"Idempotency-Key": "create-1"})
    second = client.post("/v1/webhooks", json=body, headers={"Idempotency-Key": "create-1"})

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert len(client.get("/v1/webhooks").json()["items"]) == 1
