"""`webhooks create|list|attempts|retry|ping` against a live server that delivers to a real
receiver on 127.0.0.1."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import Invoke, ok, table_field
from tests.support import Server, eventually, uvicorn_server
from tests.webhooks.receiver import Receiver, receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(database_url: str, log_dir: Path) -> Iterator[Server]:
    """This module's server delivers to 127.0.0.1 and looks for work every 50 ms."""
    env = {"WEBHOOKS_ALLOW_PRIVATE": "true", "WEBHOOKS_POLL_SECONDS": "0.05"}
    with uvicorn_server(database_url, log_dir, extra_env=env) as running:
        yield running


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


def delivered(api: httpx.Client, webhook_id: str, count: int) -> list[dict[str, object]]:
    def all_delivered() -> list[dict[str, object]] | None:
        items = api.get(f"/v1/webhooks/{webhook_id}/attempts").json()["items"]
        if len(items) == count and all(item["status"] == "delivered" for item in items):
            return list(items)
        return None

    return eventually(all_delivered, 15, "every attempt delivered")


def test_create_prints_the_secret_once_and_it_signs_the_deliveries(
    run: Invoke, api: httpx.Client, hooks: Receiver
) -> None:
    result = ok(run("webhooks", "create", hooks.url, "--event", "pattern.status_changed"))

    secret = hooks.secret = table_field(result.stdout, "secret")
    webhook_id = table_field(result.stdout, "id")
    assert secret.startswith("whsec_")
    assert "not shown again" in result.stderr
    assert table_field(result.stdout, "events") == "pattern.status_changed"
    assert api.get(f"/v1/webhooks/{webhook_id}").json()["events"] == ["pattern.status_changed"]
    ok(run("webhooks", "ping", webhook_id))
    [delivery] = hooks.wait_for(lambda got: len(got) == 1)
    assert delivery.verify(secret)["type"] == "ping"  # type: ignore[index]


def test_create_subscribes_to_every_event_by_default_and_refuses_bad_input(
    run: Invoke, api: httpx.Client
) -> None:
    created = json.loads(ok(run("webhooks", "create", "http://127.0.0.1:9/", "--json")).stdout)
    unknown = run("webhooks", "create", "http://127.0.0.1:9/", "--event", "budget.changed")
    refused = run("webhooks", "create", "http://user:pw@127.0.0.1:9/")

    assert created["events"] == ["entropy_response.triggered", "pattern.status_changed"]
    assert unknown.exit_code == 2
    assert "nothing was sent" in unknown.stderr
    assert refused.exit_code == 1
    assert "user info" in refused.stderr
    assert [e["id"] for e in api.get("/v1/webhooks").json()["items"]] == [created["id"]]


def test_list_shows_the_endpoints_without_secrets(run: Invoke, api: httpx.Client) -> None:
    ids = [
        json.loads(ok(run("webhooks", "create", f"http://127.0.0.1:9/{n}", "--json")).stdout)["id"]
        for n in range(3)
    ]

    listed = json.loads(ok(run("webhooks", "list", "--json")).stdout)
    table = ok(run("webhooks", "list")).stdout

    assert listed == api.get("/v1/webhooks").json()
    assert [item["id"] for item in listed["items"]] == ids[::-1]
    assert "whsec_" not in json.dumps(listed)
    assert all(webhook_id in table for webhook_id in ids)


def test_attempts_and_retry_follow_and_redo_a_delivery(
    run: Invoke, api: httpx.Client, hooks: Receiver
) -> None:
    created = json.loads(ok(run("webhooks", "create", hooks.url, "--json")).stdout)
    webhook_id, hooks.secret = created["id"], created["secret"]
    pinged = json.loads(ok(run("webhooks", "ping", webhook_id, "--json")).stdout)
    [attempt] = delivered(api, webhook_id, 1)

    listed = json.loads(ok(run("webhooks", "attempts", webhook_id, "--json")).stdout)
    table = ok(run("webhooks", "attempts", webhook_id, "--status", "delivered")).stdout
    retried = ok(run("webhooks", "retry", webhook_id, pinged["message_id"]))
    got = hooks.wait_for(lambda deliveries: len(deliveries) == 2)
    unknown = run("webhooks", "retry", webhook_id, "msg_unknown")

    assert pinged["event_type"] == "ping"
    assert listed["items"] == [attempt]
    assert pinged["message_id"] in table
    assert table_field(retried.stdout, "status") == "pending"
    assert {d.message_id for d in got} == {pinged["message_id"]}
    assert unknown.exit_code == 1
    assert "Not found (404)" in unknown.stderr
