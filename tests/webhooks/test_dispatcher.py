"""Dispatchers sharing one database (each app below runs its own, as each worker does): claims
never overlap while leases hold, the in-flight cap holds across them, an expired lease hands
the message over (same webhook-id) and the late claim records nothing, and a dispatcher that
stops gives its claims back at once."""

import json
import threading
import time
from collections import Counter
from contextlib import ExitStack

from fastapi.testclient import TestClient

from app.core.settings import Settings
from tests.observability.scrape import scrape, value
from tests.support import eventually
from tests.webhooks.conftest import attempts, create_endpoint, delivering_app, trigger_response
from tests.webhooks.receiver import Delivery, Reply, receiver


def counter_value(client: TestClient, outcome: str) -> float:
    return value(scrape(client), "entropy_budget_webhook_deliveries_total", outcome=outcome)


def test_two_dispatchers_share_the_work_within_the_cap_and_deliver_each_message_once(
    fast_settings: Settings,
) -> None:
    # Two slots each: together they could have four attempts in flight, one above the cap,
    # and neither can deliver everything alone at full speed.
    settings = fast_settings.model_copy(
        update={"webhooks_max_in_flight_per_endpoint": 3, "webhooks_dispatch_concurrency": 2}
    )
    with (
        receiver(lambda _d, _n: Reply(204, delay=0.2)) as hooks,
        ExitStack() as apps,
    ):
        first = apps.enter_context(delivering_app(settings))
        second = apps.enter_context(delivering_app(settings))
        endpoint_id, secret = create_endpoint(first, hooks, ["entropy_response.triggered"])
        responses = [
            trigger_response(first if n % 2 else second, f"job-{n}", revisit_quarantine=False)
            for n in range(40)
        ]
        got = hooks.wait_for(lambda d: len(d) >= 40)
        eventually(lambda: all(a["status"] == "delivered" for a in attempts(first, endpoint_id)))
        time.sleep(0.2)
        got = hooks.received()
        delivered_by = [counter_value(app, "delivered") for app in (first, second)]

    assert Counter(d.message_id for d in got).most_common(1)[0][1] == 1  # none twice
    assert {json.loads(d.body)["data"]["id"] for d in got} == {r["id"] for r in responses}
    assert all(d.verify(secret) for d in got)
    assert hooks.most_active <= 3
    assert sum(delivered_by) == 40
    assert all(count > 0 for count in delivered_by), delivered_by  # both took part


def test_an_expired_lease_hands_the_message_over_and_the_late_outcome_is_not_recorded(
    fast_settings: Settings,
) -> None:
    """The first attempt of each message outlasts the lease: another claim sends it again
    (the same webhook-id and body); the first claim's outcome then records nothing."""
    first_attempts: set[str] = set()
    lock = threading.Lock()

    def slow_first_time(delivery: Delivery, _count: int) -> Reply:
        with lock:
            first_time = delivery.message_id not in first_attempts
            first_attempts.add(delivery.message_id)
        return Reply(204, delay=1.5 if first_time else 0.0)

    settings = fast_settings.model_copy(
        update={"webhooks_lease_seconds": 0.5, "webhooks_timeout_seconds": 5.0}
    )
    with receiver(slow_first_time) as hooks, delivering_app(settings) as client:
        endpoint_id, secret = create_endpoint(client, hooks, ["entropy_response.triggered"])
        trigger_response(client, revisit_quarantine=False)
        first, second = hooks.wait_for(lambda d: len(d) == 2)
        attempt = eventually(
            lambda: (
                (a := attempts(client, endpoint_id)[0])["status"] == "delivered"
                and a["attempts"] == 2
                and counter_value(client, "lease_lost") == 1
                and a
            )
        )
        time.sleep(0.3)
        assert len(hooks.received()) == 2
        assert counter_value(client, "delivered") == 1

    assert (first.message_id, first.body) == (second.message_id, second.body)
    first.verify(secret)
    second.verify(secret)
    assert attempt["last_status_code"] == 204


def test_a_stopping_dispatcher_gives_its_claims_back_for_another_to_deliver_at_once(
    fast_settings: Settings,
) -> None:
    settings = fast_settings.model_copy(
        update={"webhooks_lease_seconds": 300.0, "webhooks_timeout_seconds": 60.0}
    )
    with receiver(lambda _d, _n: Reply(hang=True)) as dead, receiver() as alive:
        with delivering_app(settings) as client:
            endpoint_id, _ = create_endpoint(client, dead, ["entropy_response.triggered"])
            for job in range(2):
                trigger_response(client, f"job-{job}", revisit_quarantine=False)
            eventually(lambda: dead.hanging == 2)
            # The receiver moves; the two attempts in flight still wait on the old one.
            client.patch(f"/v1/webhooks/{endpoint_id}", json={"url": alive.url})
            alive.secret = dead.secret
        # The app stopped: its two attempts were cut short and released, not left leased for
        # five minutes.
        with delivering_app(settings):
            started = time.monotonic()
            got = alive.wait_for(lambda d: len(d) == 2, timeout=10)
            took = time.monotonic() - started

    assert took < 5
    assert {d.message_id for d in got} == {d.message_id for d in dead.received()}
