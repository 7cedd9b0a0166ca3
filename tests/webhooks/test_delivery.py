"""Delivery to a real receiver on 127.0.0.1, every request verified with the Standard Webhooks
reference library: signatures, retries, Retry-After, 410, the in-flight cap, rotation, ping,
redelivery, subscriptions."""

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import WebhookVerificationError

from app.core.settings import Settings
from app.webhooks.rules import signature_header
from app.webhooks.schemas import PingPayload, ResponseTriggeredPayload, StatusChangedPayload
from tests.observability.scrape import scrape, value
from tests.support import eventually
from tests.webhooks.conftest import (
    ALL_EVENTS,
    attempts,
    create_endpoint,
    create_pattern,
    delivering_app,
    trigger_response,
)
from tests.webhooks.receiver import Delivery, Reply, always, receiver

DOCUMENTED = {
    "entropy_response.triggered": ResponseTriggeredPayload,
    "pattern.status_changed": StatusChangedPayload,
    "ping": PingPayload,
}
"""The payload models of the OpenAPI document's `webhooks`, by type."""


def verified(deliveries: list[Delivery], secret: str) -> list[dict[str, Any]]:
    """Every delivery's payload, each verified by the reference library."""
    return [d.verify(secret) for d in deliveries]  # type: ignore[misc]


def test_every_delivery_verifies_and_carries_the_standard_headers_and_body(
    app_client: TestClient,
) -> None:
    with receiver() as hooks:
        endpoint_id, secret = create_endpoint(app_client, hooks)
        create_pattern(app_client, "p-1")
        response = trigger_response(app_client)
        got = hooks.wait_for(lambda d: len(d) == 2)

    payloads = verified(got, secret)
    assert {p["type"] for p in payloads} == set(ALL_EVENTS)
    for delivery, payload in zip(got, payloads, strict=True):
        assert set(payload) == {"type", "timestamp", "data"}
        DOCUMENTED[payload["type"]].model_validate_json(delivery.body)  # as the OpenAPI says
        assert payload["timestamp"] == response["recorded_at"]  # the event's time
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.message_id.startswith("msg_")
        assert "." not in delivery.message_id
        sent_at = int(delivery.headers["webhook-timestamp"])
        assert abs(sent_at - time.time()) < 10  # the attempt's own time
        assert delivery.headers["webhook-signature"].startswith("v1,")
    by_type = {p["type"]: p["data"] for p in payloads}
    assert by_type["entropy_response.triggered"] == response
    assert by_type["pattern.status_changed"]["response_id"] == response["id"]
    delivered = eventually(
        lambda: all(a["status"] == "delivered" for a in attempts(app_client, endpoint_id))
    )
    assert delivered


def test_a_tampered_body_a_wrong_secret_and_an_old_timestamp_fail_verification(
    app_client: TestClient,
) -> None:
    with receiver() as hooks:
        _, secret = create_endpoint(app_client, hooks)
        trigger_response(app_client)
        [delivery] = hooks.wait_for(lambda d: len(d) == 1)

    delivery.verify(secret)  # as sent: accepted
    tampered = delivery.body.replace(b'"job_hash":"job-1"', b'"job_hash":"job-2"')
    assert tampered != delivery.body
    with pytest.raises(WebhookVerificationError):
        Delivery(delivery.path, delivery.headers, tampered, 0).verify(secret)
    with pytest.raises(WebhookVerificationError):
        delivery.verify("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    # Replayed ten minutes later, re-signed with the right secret: too old.
    old = int((datetime.now(UTC) - timedelta(minutes=10)).timestamp())
    replay = delivery.headers | {
        "webhook-timestamp": str(old),
        "webhook-signature": signature_header([secret], delivery.message_id, old, delivery.body),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        Delivery(delivery.path, replay, delivery.body, 0).verify(secret)


def test_a_receiver_answering_500_then_200_gets_the_message_on_the_retry(
    fast_settings: Settings,
) -> None:
    def fail_first(_delivery: Delivery, count: int) -> Reply:
        return Reply(500) if count == 0 else Reply(200)

    with (
        delivering_app(fast_settings, webhooks_retry_schedule="1.1s") as client,
        receiver(fail_first) as hooks,
    ):
        endpoint_id, secret = create_endpoint(client, hooks)
        trigger_response(client)
        first, retry = hooks.wait_for(lambda d: len(d) == 2)
        [attempt] = eventually(
            lambda: [a for a in attempts(client, endpoint_id) if a["status"] == "delivered"]
        )

    assert first.message_id == retry.message_id
    assert first.body == retry.body
    assert retry.verify(secret) == first.verify(secret)
    # Each attempt is signed at its own time.
    assert int(retry.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert retry.headers["webhook-signature"] != first.headers["webhook-signature"]
    assert (attempt["attempts"], attempt["last_status_code"]) == (2, 200)


def test_retries_follow_the_schedule_then_the_message_fails(fast_settings: Settings) -> None:
    with (
        delivering_app(fast_settings, webhooks_retry_schedule="0.1s,0.1s") as client,
        receiver(always(503)) as hooks,
    ):
        endpoint_id, secret = create_endpoint(client, hooks, ["entropy_response.triggered"])
        trigger_response(client)
        [attempt] = eventually(
            lambda: [a for a in attempts(client, endpoint_id) if a["status"] == "failed"]
        )
        time.sleep(0.3)  # nothing more comes
        got = hooks.received()

    assert len(got) == 3  # the first attempt and two retries
    assert len({d.message_id for d in got}) == 1
    verified(got, secret)
    assert attempt | {"last_attempt_at": None} == {
        "message_id": got[0].message_id,
        "event_type": "entropy_response.triggered",
        "status": "failed",
        "attempts": 3,
        "last_status_code": 503,
        "last_error": None,
        "last_attempt_at": None,
        "next_attempt_at": None,
    }


@pytest.mark.parametrize("status", [429, 502, 504])
def test_429_502_and_504_are_retried_no_sooner_than_retry_after(
    fast_settings: Settings, status: int
) -> None:
    def busy_once(_delivery: Delivery, count: int) -> Reply:
        return Reply(status, (("Retry-After", "2"),)) if count == 0 else Reply(204)

    with (
        delivering_app(fast_settings, webhooks_retry_schedule="0.1s") as client,
        receiver(busy_once) as hooks,
    ):
        create_endpoint(client, hooks, ["entropy_response.triggered"])
        trigger_response(client)
        first, retry = hooks.wait_for(lambda d: len(d) == 2)

    assert retry.received_at - first.received_at >= 2.0
    assert retry.message_id == first.message_id


def test_410_disables_the_endpoint_and_enabling_it_resumes_delivery(
    fast_settings: Settings,
) -> None:
    gone = {"yes": True}

    def answer(_delivery: Delivery, _count: int) -> Reply:
        return Reply(410) if gone["yes"] else Reply(204)

    with delivering_app(fast_settings) as client, receiver(answer) as hooks:
        endpoint_id, secret = create_endpoint(client, hooks, ["entropy_response.triggered"])
        trigger_response(client, "job-1")
        endpoint = eventually(
            lambda: (
                (e := client.get(f"/v1/webhooks/{endpoint_id}").json())["enabled"] is False and e
            )
        )
        assert endpoint["disabled_reason"].startswith("The endpoint answered 410 Gone at ")
        [failed] = attempts(client, endpoint_id)
        assert (failed["status"], failed["last_status_code"], failed["attempts"]) == (
            "failed",
            410,
            1,
        )

        trigger_response(client, "job-2")  # while disabled: not fanned out to it
        time.sleep(0.3)
        assert len(hooks.received()) == 1

        gone["yes"] = False
        client.post(f"/v1/webhooks/{endpoint_id}/attempts/{failed['message_id']}/retry")
        enabled = client.patch(f"/v1/webhooks/{endpoint_id}", json={"enabled": True}).json()
        assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
        # The redelivery first (asked for before enabling), then a new event: waiting between
        # the two pins each, where both at once could arrive in either order.
        redelivered = hooks.wait_for(lambda d: len(d) == 2)[1]
        assert redelivered.message_id == hooks.received()[0].message_id
        trigger_response(client, "job-3")
        got = hooks.wait_for(lambda d: len(d) == 3)

    verified(got, secret)
    assert json.loads(got[2].body)["data"]["job_hash"] == "job-3"


def test_an_endpoint_gets_only_what_it_subscribed_to_and_only_from_its_creation_on(
    app_client: TestClient,
) -> None:
    with receiver() as early, receiver() as late:
        create_endpoint(app_client, early, ["pattern.status_changed"])
        create_pattern(app_client, "p-1", status="pending")
        app_client.patch("/v1/patterns/p-1", json={"quarantine_status": "quarantined"})
        trigger_response(app_client, "job-1", revisit_quarantine=False)
        early.wait_for(lambda d: len(d) == 1)
        _, late_secret = create_endpoint(app_client, late)
        app_client.patch("/v1/patterns/p-1", json={"quarantine_status": "validated"})
        early.wait_for(lambda d: len(d) == 2)
        late_got = late.wait_for(lambda d: len(d) == 1)
        time.sleep(0.2)
        early_got = early.received()

    assert [json.loads(d.body)["type"] for d in early_got] == ["pattern.status_changed"] * 2
    [only] = verified(late_got, late_secret)
    assert (only["data"]["old_status"], only["data"]["new_status"]) == ("quarantined", "validated")
    assert only["data"]["sequence"] == 2


def test_the_in_flight_cap_per_endpoint_holds_and_a_dead_endpoint_starves_no_other(
    fast_settings: Settings,
) -> None:
    settings = fast_settings.model_copy(
        update={"webhooks_max_in_flight_per_endpoint": 2, "webhooks_timeout_seconds": 30.0}
    )

    def hang(_delivery: Delivery, _count: int) -> Reply:
        return Reply(hang=True)

    with (
        delivering_app(settings, webhooks_lease_seconds=60.0) as client,
        receiver(hang) as dead,
        receiver() as alive,
    ):
        create_endpoint(client, dead, ["entropy_response.triggered"])
        _, secret = create_endpoint(client, alive, ["entropy_response.triggered"])
        for job in range(6):
            trigger_response(client, f"job-{job}", revisit_quarantine=False)
        got = alive.wait_for(lambda d: len(d) == 6)
        eventually(lambda: dead.hanging == 2)
        # The dead endpoint's six messages wait: two in flight, four queued behind them.
        eventually(lambda: gauge(client, "webhook_queue_depth") == 6)
        assert gauge(client, "webhook_oldest_pending_seconds") > 0
        time.sleep(0.5)
        assert dead.hanging == 2
        assert len(dead.received()) == 2

    verified(got, secret)


def gauge(client: TestClient, name: str) -> float:
    return value(scrape(client), f"entropy_budget_{name}")


def test_during_a_rotation_deliveries_carry_both_signatures(app_client: TestClient) -> None:
    with receiver() as hooks:
        endpoint_id, old = create_endpoint(app_client, hooks, ["entropy_response.triggered"])
        rotated = app_client.post(f"/v1/webhooks/{endpoint_id}/rotate-secret")
        new = rotated.json()["secret"]
        trigger_response(app_client)
        [delivery] = hooks.wait_for(lambda d: len(d) == 1)

    assert rotated.status_code == 200
    assert new != old
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    assert delivery.verify(new) == delivery.verify(old)


def test_a_ping_is_delivered_to_that_endpoint_alone(app_client: TestClient) -> None:
    with receiver() as pinged, receiver() as other:
        endpoint_id, secret = create_endpoint(app_client, pinged)
        create_endpoint(app_client, other)
        answer = app_client.post(f"/v1/webhooks/{endpoint_id}/ping")
        [delivery] = pinged.wait_for(lambda d: len(d) == 1)
        time.sleep(0.2)

    assert answer.status_code == 202
    assert answer.json()["event_type"] == "ping"
    assert answer.json()["status"] == "pending"
    payload = delivery.verify(secret)
    PingPayload.model_validate_json(delivery.body)
    assert payload["type"] == "ping"  # type: ignore[index]
    assert payload["data"] == {"endpoint_id": endpoint_id}  # type: ignore[index]
    assert delivery.message_id == answer.json()["message_id"]
    assert other.received() == []


def test_a_disabled_endpoint_cannot_be_pinged(app_client: TestClient) -> None:
    endpoint_id, _ = create_endpoint(app_client, "http://127.0.0.1:9/", enabled=False)
    answer = app_client.post(f"/v1/webhooks/{endpoint_id}/ping")
    assert answer.status_code == 409
    assert attempts(app_client, endpoint_id) == []


def test_a_redelivery_sends_the_same_message_again(app_client: TestClient) -> None:
    with receiver() as hooks:
        endpoint_id, secret = create_endpoint(app_client, hooks, ["entropy_response.triggered"])
        trigger_response(app_client)
        [first] = hooks.wait_for(lambda d: len(d) == 1)
        eventually(lambda: attempts(app_client, endpoint_id)[0]["status"] == "delivered")
        again = app_client.post(f"/v1/webhooks/{endpoint_id}/attempts/{first.message_id}/retry")
        _, second = hooks.wait_for(lambda d: len(d) == 2)
        attempt = eventually(
            lambda: (a := attempts(app_client, endpoint_id)[0])["status"] == "delivered" and a
        )

    assert again.status_code == 202
    assert (second.message_id, second.body) == (first.message_id, first.body)
    second.verify(secret)
    assert attempt["attempts"] == 2


def test_retrying_an_unknown_message_or_endpoint_is_a_404(app_client: TestClient) -> None:
    endpoint_id, _ = create_endpoint(app_client, "http://127.0.0.1:9/")
    unknown_message = app_client.post(f"/v1/webhooks/{endpoint_id}/attempts/msg_nope/retry")
    unknown_endpoint = app_client.post("/v1/webhooks/nope/attempts/msg_nope/retry")
    assert (unknown_message.status_code, unknown_endpoint.status_code) == (404, 404)
