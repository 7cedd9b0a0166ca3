"""POST /v1/pattern-entropy/snapshots, GET .../snapshots/{id} and GET .../history
(seed: record_pattern_entropy, get_pattern_entropy_history)."""

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.diversity.schemas import Scope
from app.models import PatternEntropySnapshot as SnapshotRow
from tests.patterns.helpers import (
    assert_problem,
    first_loc,
    item_ids,
    parse_time,
    population,
    refused,
    row_count,
    walk_pages,
)
from tests.support import ManualClock

SNAPSHOTS = "/v1/pattern-entropy/snapshots"
HISTORY = "/v1/pattern-entropy/history"
METRICS = "/v1/pattern-entropy"


def take_snapshot(client: TestClient, **request: Any) -> dict[str, Any]:
    """`request` is httpx's keyword (json=... or content=...); none sends no body at all."""
    response = client.post(SNAPSHOTS, **request)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == f"{SNAPSHOTS}/{body['id']}"
    return body


def take_snapshots(client: TestClient, clock: ManualClock, steps: list[float]) -> list[str]:
    """One snapshot after each clock step (0 keeps the time); their ids in writing order."""
    ids = []
    for step in steps:
        clock.advance(step)
        ids.append(take_snapshot(client)["id"])
    return ids


def history(client: TestClient, **params: Any) -> httpx.Response:
    return client.get(HISTORY, params=params)


@pytest.mark.parametrize(
    "request_kwargs",
    [{}, {"json": {}}, {"json": {"alert_threshold": None}}],
    ids=["no body", "empty object", "null threshold"],
)
def test_snapshot_without_a_threshold_records_the_current_metrics(
    client: TestClient, clock: ManualClock, request_kwargs: dict[str, Any]
) -> None:
    population(client, {"a": 3, "b": 1, "idle": 0})
    clock.advance(42)
    body = take_snapshot(client, **request_kwargs)
    current = client.get(METRICS).json()
    assert {k: v for k, v in body.items() if k != "id"} == current
    assert body["threshold_exceeded"] is False
    assert parse_time(body["calculated_at"]) == clock.now
    assert body["total_applications"] == 4
    expected = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert body["diversity_index"] == pytest.approx(expected)


def test_snapshot_is_served_at_its_location(client: TestClient) -> None:
    population(client, {"a": 1, "b": 2})
    response = client.post(SNAPSHOTS, json={"alert_threshold": 0.2})
    assert response.status_code == 201
    body = response.json()
    assert client.get(response.headers["location"]).json() == body
    assert client.get(HISTORY).json()["items"] == [body]


def test_snapshot_records_whether_the_alert_threshold_was_exceeded(client: TestClient) -> None:
    population(client, {"major": 9, "minor": 1})  # diversity about 0.469
    for threshold, exceeded in [(0.5, True), (0.4, False)]:
        body = take_snapshot(client, json={"alert_threshold": threshold})
        assert body["threshold_exceeded"] is exceeded
        assert client.get(f"{SNAPSHOTS}/{body['id']}").json()["threshold_exceeded"] is exceeded


def test_snapshot_ids_are_distinct_and_every_one_is_kept(
    client: TestClient, engine: Engine
) -> None:
    ids = {take_snapshot(client)["id"] for _ in range(3)}
    assert len(ids) == 3
    assert row_count(engine, "pattern_entropy_history") == 3


def test_snapshot_of_an_empty_population_is_all_zero(client: TestClient) -> None:
    body = take_snapshot(client)
    assert body["unique_pattern_count"] == 0
    for field in ("shannon_entropy", "max_possible_entropy", "diversity_index"):
        assert body[field] == 0


INVALID_SNAPSHOT_BODIES = [
    '{"alert_threshold": 1.5}',
    '{"alert_threshold": -0.5}',
    '{"alert_threshold": NaN}',
    '{"alert_threshold": Infinity}',
    '{"alert_threshold": "0.5"}',
    '{"alert_threshold": 0.5, "note": "x"}',
    "[]",
    '"text"',
    '{"alert_threshold": ',
]


def test_invalid_snapshot_request_is_422_and_records_nothing(
    client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    for raw in INVALID_SNAPSHOT_BODIES:
        with subtests.test(raw):
            refused(client, engine, "POST", SNAPSHOTS, raw)


def test_unknown_snapshot_is_a_404_problem(client: TestClient) -> None:
    take_snapshot(client)
    assert_problem(client.get(f"{SNAPSHOTS}/00000000-0000-4000-8000-000000000000"), 404)


def test_history_lists_newest_first(client: TestClient, clock: ManualClock) -> None:
    first, second, third = take_snapshots(client, clock, [10, 10, 10])
    assert item_ids(client, HISTORY) == [third, second, first]


def test_history_ties_list_the_latest_insertion_first(
    client: TestClient, clock: ManualClock
) -> None:
    ids = take_snapshots(client, clock, [0, 0, 0, 5, 0])
    assert item_ids(client, HISTORY) == [ids[4], ids[3], ids[2], ids[1], ids[0]]


def test_history_items_have_the_snapshot_shape(client: TestClient) -> None:
    population(client, {"a": 1})
    body = take_snapshot(client, json={"alert_threshold": 0.3})
    (item,) = client.get(HISTORY).json()["items"]
    assert item == body


def test_history_pages_walk_every_snapshot_once(client: TestClient, clock: ManualClock) -> None:
    ids = take_snapshots(client, clock, [0, 0, 1, 0, 0, 1, 0])
    newest_first = ids[::-1]
    assert walk_pages(client, HISTORY, limit=2) == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:6],
        newest_first[6:],
    ]
    assert walk_pages(client, HISTORY, limit=3) == [
        newest_first[0:3],
        newest_first[3:6],
        newest_first[6:],
    ]


def test_history_limit_caps_the_page(client: TestClient, clock: ManualClock) -> None:
    ids = take_snapshots(client, clock, [1, 1, 1])
    page = history(client, limit=2).json()
    assert [item["id"] for item in page["items"]] == [ids[2], ids[1]]
    assert page["next_cursor"] is not None
    assert history(client, limit=3).json()["next_cursor"] is None


def at(clock_start: datetime, seconds: float, offset_hours: int = 0) -> str:
    moment = clock_start + timedelta(seconds=seconds)
    return moment.astimezone(timezone(timedelta(hours=offset_hours))).isoformat()


def test_since_is_inclusive_and_until_exclusive(client: TestClient, clock: ManualClock) -> None:
    start = clock.now
    at_0, at_10, at_20 = take_snapshots(client, clock, [0, 10, 10])
    assert item_ids(client, HISTORY, since=at(start, 10)) == [at_20, at_10]
    assert item_ids(client, HISTORY, until=at(start, 20)) == [at_10, at_0]
    assert item_ids(client, HISTORY, since=at(start, 10), until=at(start, 20)) == [at_10]
    assert item_ids(client, HISTORY, since=at(start, 10), until=at(start, 10)) == []
    assert item_ids(client, HISTORY, since=at(start, 0.5)) == [at_20, at_10]
    assert item_ids(client, HISTORY, until=at(start, 0.5)) == [at_0]


def test_time_filters_honour_the_offset(client: TestClient, clock: ManualClock) -> None:
    start = clock.now
    at_0, at_10, at_20 = take_snapshots(client, clock, [0, 10, 10])
    # The same instants written in UTC+02:00 and UTC-05:00.
    assert item_ids(client, HISTORY, since=at(start, 10, offset_hours=2)) == [at_20, at_10]
    assert item_ids(client, HISTORY, until=at(start, 20, offset_hours=-5)) == [at_10, at_0]
    zulu = (start + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert item_ids(client, HISTORY, since=zulu) == [at_20, at_10]


def test_time_filters_combine_with_pages(client: TestClient, clock: ManualClock) -> None:
    start = clock.now
    ids = take_snapshots(client, clock, [0, 0, 10, 0, 0, 10])
    pages = walk_pages(client, HISTORY, limit=2, since=at(start, 10), until=at(start, 20))
    assert pages == [[ids[4], ids[3]], [ids[2]]]


@pytest.mark.parametrize("parameter", ["since", "until"])
def test_time_filters_without_an_offset_are_422(
    client: TestClient, subtests: pytest.Subtests, parameter: str
) -> None:
    take_snapshot(client)
    for value in ("2026-03-01T12:00:00", "2026-03-01T12:00:00.5", "2026-03-01", "yesterday"):
        with subtests.test(value):
            problem = assert_problem(history(client, **{parameter: value}), 422)
            assert first_loc(problem) == ["query", parameter]


def test_every_field_of_a_scope_is_a_column_of_the_snapshot_row() -> None:
    """A snapshot reads its scope from the row's columns named as the Scope's fields, so a
    field added to Scope needs its column (and migration) before a snapshot can be read."""
    assert set(Scope.model_fields) <= set(SnapshotRow.__table__.columns.keys())
