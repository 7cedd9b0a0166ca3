"""Snapshots record their scope; the history and its export filter by job or keep the global
ones only."""

import json

from fastapi.testclient import TestClient

from tests.patterns.helpers import create_patterns, post_batch
from tests.support import ManualClock


def snapshot(client: TestClient, **body: object) -> dict[str, object]:
    response = client.post("/v1/pattern-entropy/snapshots", json=body)
    assert response.status_code == 201, response.text
    recorded: dict[str, object] = response.json()
    return recorded


def history_ids(client: TestClient, **params: str) -> list[object]:
    response = client.get("/v1/pattern-entropy/history", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_snapshot_records_the_scope_it_measured(client: TestClient, clock: ManualClock) -> None:
    create_patterns(client, "a", "b")
    items = [
        {"pattern_id": "a", "execution_id": "1", "pattern_led_to_success": True, "job_hash": "j"},
        {"pattern_id": "b", "execution_id": "2", "pattern_led_to_success": True},
        {"pattern_id": "b", "execution_id": "3", "pattern_led_to_success": True},
    ]
    assert post_batch(client, items).status_code == 201
    clock.advance(300)

    scoped = snapshot(client, job_hash="j", half_life_seconds=300, alert_threshold=0.5)
    current = client.get(
        "/v1/pattern-entropy",
        params={"job_hash": "j", "half_life_seconds": 300, "alert_threshold": 0.5},
    ).json()
    assert {k: v for k, v in scoped.items() if k != "id"} == current
    assert scoped["scope"] == {"job_hash": "j", "half_life_seconds": 300}
    assert (scoped["total_applications"], scoped["effective_pattern_count"]) == (1, 1)
    assert scoped["weighted_applications"] == 0.5  # one application, one half-life ago

    stored = client.get(f"/v1/pattern-entropy/snapshots/{scoped['id']}").json()
    assert stored == scoped


def test_the_history_filters_by_job_or_keeps_the_global_snapshots(client: TestClient) -> None:
    create_patterns(client, "a")
    every = snapshot(client)
    job_a = snapshot(client, job_hash="job-a")
    job_b = snapshot(client, job_hash="job-b", half_life_seconds=3600)
    decayed = snapshot(client, half_life_seconds=86400)

    assert history_ids(client) == [decayed["id"], job_b["id"], job_a["id"], every["id"]]
    assert history_ids(client, job_hash="job-a") == [job_a["id"]]
    assert history_ids(client, scope="global") == [decayed["id"], every["id"]]
    assert history_ids(client, scope="job") == [job_b["id"], job_a["id"]]
    assert history_ids(client, job_hash="job-b", scope="job") == [job_b["id"]]

    export = client.get(
        "/v1/pattern-entropy/history",
        params={"job_hash": "job-b"},
        headers={"accept": "application/x-ndjson"},
    )
    assert export.status_code == 200
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [line["id"] for line in lines] == [job_b["id"]]
    assert lines[0]["scope"] == {"job_hash": "job-b", "half_life_seconds": 3600}

    conflict = client.get(
        "/v1/pattern-entropy/history", params={"job_hash": "job-a", "scope": "global"}
    )
    assert conflict.status_code == 422
    assert conflict.json()["errors"][0]["loc"] == ["query", "scope"]
