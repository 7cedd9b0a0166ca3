"""The transactional outbox: every path that writes a response or changes a pattern's status
writes its event in the same transaction; a PATCH that changes nothing writes none; no event
without its record and no committed record without its event."""

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from app.core.settings import Settings
from app.main import create_app
from app.models import EntropyResponse, WebhookMessage
from app.responses.repository import ResponseRepository
from app.webhooks import rules
from tests.support import ManualClock
from tests.webhooks.conftest import create_pattern, trigger_response


def outbox(engine: Engine) -> list[dict[str, Any]]:
    """Every message written, oldest first, as its body says."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(WebhookMessage.id, WebhookMessage.event_type, WebhookMessage.body).order_by(
                WebhookMessage.seq
            )
        ).all()
    messages = []
    for message_id, event_type, body in rows:
        parsed = json.loads(body)
        assert parsed["type"] == event_type
        messages.append({"id": message_id, **parsed})
    return messages


def status_events(engine: Engine) -> list[dict[str, Any]]:
    return [m["data"] for m in outbox(engine) if m["type"] == "pattern.status_changed"]


@contextmanager
def app_with(settings: Settings, clock: ManualClock, **overrides: Any) -> Iterator[TestClient]:
    # No dispatcher: these tests read the outbox as the writers left it.
    update = {"webhooks_dispatch": False, **overrides}
    with TestClient(create_app(settings.model_copy(update=update), clock=clock)) as client:
        yield client


@pytest.fixture
def outbox_client(settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    with app_with(settings, clock) as client:
        yield client


def test_a_response_writes_its_event_and_one_per_revisited_pattern(
    outbox_client: TestClient, engine: Engine
) -> None:
    for pattern_id in ("p-1", "p-2", "p-3"):
        create_pattern(outbox_client, pattern_id)

    response = trigger_response(outbox_client, max_quarantine_revisits=2)

    messages = outbox(engine)
    assert [m["type"] for m in messages] == [
        "entropy_response.triggered",
        "pattern.status_changed",
        "pattern.status_changed",
    ]
    assert messages[0]["data"] == response
    assert all(m["timestamp"] == response["recorded_at"] for m in messages)
    assert [m["data"] for m in messages[1:]] == [
        {
            "pattern_id": pattern_id,
            "old_status": "quarantined",
            "new_status": "pending",
            "cause": "response",
            "response_id": response["id"],
            "sequence": 1,
        }
        for pattern_id in response["patterns_revisited"]
    ]
    assert len({m["id"] for m in messages}) == 3


@pytest.mark.parametrize("group_commit", [True, False], ids=["batched writer", "route"])
def test_readings_write_the_events_of_the_responses_they_run(
    settings: Settings, clock: ManualClock, engine: Engine, group_commit: bool
) -> None:
    with app_with(settings, clock, readings_group_commit=group_commit) as client:
        create_pattern(client, "p-1")
        low = client.post("/v1/jobs/job-1/entropy-readings", json={"entropy": 0.1}).json()
        cooled = client.post("/v1/jobs/job-1/entropy-readings", json={"entropy": 0.1}).json()
        healthy = client.post("/v1/jobs/job-2/entropy-readings", json={"entropy": 0.9}).json()

    assert cooled["response"] is None  # the job's cooldown: no response, no event
    assert healthy["response"] is None
    messages = outbox(engine)
    assert [(m["type"], m["data"].get("cause")) for m in messages] == [
        ("entropy_response.triggered", None),
        ("pattern.status_changed", "response"),
    ]
    assert messages[0]["data"] == low["response"]
    assert messages[1]["data"]["response_id"] == low["response"]["id"]


def test_a_patch_that_changes_the_status_writes_its_event(
    outbox_client: TestClient, engine: Engine, clock: ManualClock
) -> None:
    create_pattern(outbox_client, "p-1", status="pending")
    clock.advance(5)

    answer = outbox_client.patch(
        "/v1/patterns/p-1", json={"quarantine_status": "quarantined", "quarantine_reason": "loops"}
    )

    assert answer.status_code == 200
    [message] = outbox(engine)
    assert message["type"] == "pattern.status_changed"
    assert message["timestamp"] == answer.json()["quarantined_at"]
    assert message["data"] == {
        "pattern_id": "p-1",
        "old_status": "pending",
        "new_status": "quarantined",
        "cause": "request",
        "response_id": None,
        "sequence": 1,
    }


def test_a_patch_that_leaves_the_status_unchanged_writes_nothing(
    outbox_client: TestClient, engine: Engine
) -> None:
    create_pattern(outbox_client, "p-1", status="validated")

    same = outbox_client.patch("/v1/patterns/p-1", json={"quarantine_status": "validated"})
    reason_only = outbox_client.patch(
        "/v1/patterns/p-1", json={"quarantine_status": "validated", "quarantine_reason": "again"}
    )

    assert same.status_code == reason_only.status_code == 200
    assert outbox(engine) == []


def test_sequences_increase_per_pattern_with_every_change_whatever_caused_it(
    outbox_client: TestClient, engine: Engine
) -> None:
    """Random PATCHes and responses over a few patterns; the expected sequence of each change
    is counted here, independently, from the statuses the API reports."""
    rng = random.Random(12)
    patterns = [f"p-{n}" for n in range(4)]
    for pattern_id in patterns:
        create_pattern(outbox_client, pattern_id, status="pending")
    changes: dict[str, int] = dict.fromkeys(patterns, 0)
    expected: list[tuple[str, str, str, int]] = []
    for step in range(60):
        if step % 7 == 6:
            response = trigger_response(outbox_client, f"job-{step}", max_quarantine_revisits=2)
            for pattern_id in response["patterns_revisited"]:
                changes[pattern_id] += 1
                expected.append((pattern_id, "quarantined", "pending", changes[pattern_id]))
            continue
        pattern_id = rng.choice(patterns)
        before = outbox_client.get(f"/v1/patterns/{pattern_id}").json()["quarantine_status"]
        after = rng.choice(["pending", "quarantined", "validated", "retired"])
        outbox_client.patch(f"/v1/patterns/{pattern_id}", json={"quarantine_status": after})
        if after != before:
            changes[pattern_id] += 1
            expected.append((pattern_id, before, after, changes[pattern_id]))

    events = status_events(engine)
    assert [
        (e["pattern_id"], e["old_status"], e["new_status"], e["sequence"]) for e in events
    ] == expected
    assert sum(1 for e in events if e["cause"] == "response") > 0
    for pattern_id in patterns:
        mine = [e["sequence"] for e in events if e["pattern_id"] == pattern_id]
        assert mine == list(range(1, len(mine) + 1))


def test_no_committed_response_without_its_event(
    outbox_client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second response's event cannot be written (its message id collides with the
    first's): the response is not written either."""
    monkeypatch.setattr(rules, "new_message_id", lambda: "msg_always_the_same")
    trigger_response(outbox_client, "job-1", revisit_quarantine=False)

    failed = outbox_client.post(
        "/v1/entropy-responses",
        json={"trigger": {"job_hash": "job-2", "entropy_at_trigger": 0.1, "threshold_used": 0.3}},
    )

    assert failed.status_code >= 400
    with engine.connect() as connection:
        jobs = connection.scalars(select(EntropyResponse.job_hash)).all()
    assert jobs == ["job-1"]
    assert len(outbox(engine)) == 1


def test_no_event_without_its_committed_response(
    outbox_client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The response cannot be written after its events were: the events go with it."""
    create_pattern(outbox_client, "p-1")

    def fail(*_args: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(ResponseRepository, "insert", fail)
    with pytest.raises(RuntimeError, match="the disk is full"):
        outbox_client.post(
            "/v1/entropy-responses",
            json={
                "trigger": {"job_hash": "job-1", "entropy_at_trigger": 0.1, "threshold_used": 0.3}
            },
        )

    assert outbox(engine) == []
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(EntropyResponse)) == 0
    assert outbox_client.get("/v1/patterns/p-1").json()["quarantine_status"] == "quarantined"
