"""Every writer of webhook rows locks deliveries before endpoints. The dispatcher records a
delivery's outcome and then disables its endpoint (a 410); an endpoint's DELETE must take the
same order, or the two deadlock and PostgreSQL cancels one of them (with the endpoint locked
first, this test's DELETE answered 503 on the deadlock)."""

import threading
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text, update

from app.core.db import Database
from app.core.settings import Settings
from app.main import create_app
from app.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.repository import EndpointRepository
from tests.support import TEST_DATABASE, ManualClock, eventually, lock_waits
from tests.webhooks.conftest import create_endpoint

pytestmark = pytest.mark.skipif(
    TEST_DATABASE != "postgresql", reason="SQLite writes one at a time: no lock order to keep"
)


def test_deleting_an_endpoint_waits_for_a_dispatcher_that_holds_its_delivery_without_deadlock(
    settings: Settings, clock: ManualClock, engine: Engine
) -> None:
    app = create_app(settings.model_copy(update={"webhooks_dispatch": False}), clock=clock)
    with TestClient(app) as client:
        endpoint_id, _ = create_endpoint(client, "https://8.8.8.8/hooks")
        assert client.post(f"/v1/webhooks/{endpoint_id}/ping").status_code == 202
        deleted: list[httpx.Response] = []

        with Database(engine).session(write=True) as dispatcher:
            dispatcher.execute(text("SET LOCAL lock_timeout = '10s'"))
            endpoint_seq = dispatcher.scalars(
                select(WebhookEndpoint.seq).where(WebhookEndpoint.id == endpoint_id)
            ).one()
            # The dispatcher records the ping's outcome (its delivery row is now locked)...
            dispatcher.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.endpoint_seq == endpoint_seq)
                .values(last_error="410 Gone")
            )
            deleting = threading.Thread(
                target=lambda: deleted.append(client.delete(f"/v1/webhooks/{endpoint_id}"))
            )
            deleting.start()
            eventually(lambda: lock_waits(engine) == 1)  # the DELETE waits for the delivery
            # ...then disables the endpoint: free to lock, since the DELETE has not taken it.
            EndpointRepository(dispatcher).disable(endpoint_seq, "gone", datetime.now(UTC))
            dispatcher.commit()
        deleting.join(timeout=15)

        assert [answer.status_code for answer in deleted] == [204]
        assert client.get(f"/v1/webhooks/{endpoint_id}").status_code == 404
