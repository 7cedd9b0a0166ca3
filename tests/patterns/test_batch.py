"""POST /v1/pattern-applications: 1..1000 applications, all or nothing."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.patterns.helpers import (
    assert_problem,
    batch_items,
    create_pattern,
    create_patterns,
    get_pattern,
    nothing_written,
    parse_time,
    post_batch,
    row_count,
)
from tests.support import ManualClock


def counts(client: TestClient, pattern_id: str) -> tuple[int, int]:
    pattern = get_pattern(client, pattern_id)
    return pattern["application_count"], pattern["success_count"]


def test_batch_records_every_item_in_order(client: TestClient, clock: ManualClock) -> None:
    create_patterns(client, "a", "b")
    clock.advance(20)
    items = batch_items(["a", "b", "a"])
    items[1] |= {"job_hash": "job-x", "grounding_confidence": 0.5, "retry_count_after": 2}
    response = post_batch(client, items)
    assert response.status_code == 201
    recorded = response.json()["items"]
    assert [item["pattern_id"] for item in recorded] == ["a", "b", "a"]
    assert [item["execution_id"] for item in recorded] == ["exec-0", "exec-1", "exec-2"]
    assert (recorded[1]["job_hash"], recorded[1]["grounding_confidence"]) == ("job-x", 0.5)
    assert recorded[1]["retry_count_after"] == 2
    assert len({item["id"] for item in recorded}) == 3
    for item in recorded:
        assert parse_time(item["applied_at"]) == clock.now
        assert client.get(f"/v1/pattern-applications/{item['id']}").json() == item


def test_repeated_pattern_ids_in_one_batch_add_up(client: TestClient) -> None:
    create_patterns(client, "a", "b", "c")
    items = batch_items(["a", "b", "a", "a", "b"])
    for item, outcome in zip(items, [True, True, False, None, None], strict=True):
        item["pattern_led_to_success"] = outcome
    assert post_batch(client, items).status_code == 201
    assert counts(client, "a") == (3, 1)
    assert counts(client, "b") == (2, 1)
    assert counts(client, "c") == (0, 0)


def test_batches_add_to_earlier_counts(client: TestClient) -> None:
    create_pattern(client, id="a")
    assert post_batch(client, batch_items(["a", "a"])).status_code == 201
    assert post_batch(client, batch_items(["a"], success=False)).status_code == 201
    assert counts(client, "a") == (3, 2)


def test_batch_moves_last_seen_of_the_applied_patterns_only(
    client: TestClient, clock: ManualClock
) -> None:
    create_patterns(client, "a", "b")
    clock.advance(100)
    assert post_batch(client, batch_items(["b"])).status_code == 201
    assert parse_time(get_pattern(client, "b")["last_seen"]) == clock.now
    untouched = get_pattern(client, "a")
    assert untouched["last_seen"] == untouched["first_seen"]


def test_a_batch_of_one_is_accepted(client: TestClient) -> None:
    create_pattern(client, id="a")
    response = post_batch(client, batch_items(["a"]))
    assert response.status_code == 201
    assert len(response.json()["items"]) == 1


def test_a_batch_of_a_thousand_is_accepted(client: TestClient, engine: Engine) -> None:
    create_patterns(client, "a", "b")
    response = post_batch(client, batch_items(["a", "b"] * 500))
    assert response.status_code == 201
    assert len(response.json()["items"]) == 1000
    assert row_count(engine, "pattern_applications") == 1000
    assert counts(client, "a") == counts(client, "b") == (500, 500)


def test_batch_sizes_outside_one_to_a_thousand_are_422_and_write_nothing(
    client: TestClient, engine: Engine
) -> None:
    create_pattern(client, id="a")
    for size in (0, 1001):
        with nothing_written(engine):
            problem = assert_problem(post_batch(client, batch_items(["a"] * size)), 422)
        assert problem["errors"][0]["loc"] == ["body", "applications"], size


def test_batch_without_an_applications_list_is_422(client: TestClient, engine: Engine) -> None:
    bodies: list[dict[str, Any]] = [{}, {"applications": None}, {"applications": {}}, {"items": []}]
    for body in bodies:
        with nothing_written(engine):
            assert_problem(client.post("/v1/pattern-applications", json=body), 422)


def test_unknown_pattern_ids_are_422_naming_each_and_nothing_is_written(
    client: TestClient, clock: ManualClock, engine: Engine
) -> None:
    create_patterns(client, "a", "b")
    clock.advance(30)
    items = batch_items(["a", "b", "ghost", "a", "phantom"])
    with nothing_written(engine):
        problem = assert_problem(post_batch(client, items), 422)
    offenders = {tuple(error["loc"]): error["msg"] for error in problem["errors"]}
    assert set(offenders) == {
        ("body", "applications", 2, "pattern_id"),
        ("body", "applications", 4, "pattern_id"),
    }
    assert "ghost" in offenders[("body", "applications", 2, "pattern_id")]
    assert "phantom" in offenders[("body", "applications", 4, "pattern_id")]
    assert "ghost" in problem["detail"]
    assert "phantom" in problem["detail"]
    assert counts(client, "a") == counts(client, "b") == (0, 0)


def test_an_unknown_id_repeated_is_named_at_every_index(client: TestClient) -> None:
    create_pattern(client, id="a")
    problem = assert_problem(post_batch(client, batch_items(["ghost", "a", "ghost"])), 422)
    assert sorted(error["loc"][2] for error in problem["errors"]) == [0, 2]


def test_an_invalid_item_refuses_the_whole_batch(client: TestClient, engine: Engine) -> None:
    create_pattern(client, id="a")
    items = batch_items(["a", "a", "a"])
    items[1]["retry_count_before"] = -1
    with nothing_written(engine):
        problem = assert_problem(post_batch(client, items), 422)
    assert problem["errors"][0]["loc"] == ["body", "applications", 1, "retry_count_before"]


def test_batch_items_need_a_pattern_id(client: TestClient, engine: Engine) -> None:
    create_pattern(client, id="a")
    items = batch_items(["a"])
    del items[0]["pattern_id"]
    with nothing_written(engine):
        problem = assert_problem(post_batch(client, items), 422)
    assert problem["errors"][0]["loc"] == ["body", "applications", 0, "pattern_id"]
