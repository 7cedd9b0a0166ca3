"""Pages: `limit` 1..1000 (no clamping), `cursor` from `next_cursor`, an unreadable cursor is 422;
and the cursor codec (app.core.pagination.Position) itself."""

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from app.core.pagination import Position
from tests.patterns.helpers import assert_problem, create_patterns, first_loc, item_ids

PAGED = [
    "/v1/patterns",
    "/v1/pattern-entropy/history",
    "/v1/budget/history",
    "/v1/entropy-responses/history",
]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64_json(value: object) -> str:
    return b64(json.dumps(value).encode())


UNREADABLE_CURSORS = {
    "garbage": "garbage!!",
    "not base64 alphabet": "%%%%",
    "one stray char": "A",
    "base64 of garbage": b64(b"garbage"),
    "base64 of bad bytes": b64(b"\xff\xfe\x00"),
    "naive timestamp": b64_json(["2026-03-01T12:00:00", 1]),
    "timestamp alone": b64_json("2026-03-01T12:00:00+00:00"),
    "not a timestamp": b64_json(["yesterday", 1]),
    "boolean seq": b64_json(["2026-03-01T12:00:00+00:00", True]),
    "text seq": b64_json(["2026-03-01T12:00:00+00:00", "1"]),
    "float seq": b64_json(["2026-03-01T12:00:00+00:00", 1.5]),
    "null seq": b64_json(["2026-03-01T12:00:00+00:00", None]),
    "three parts": b64_json(["2026-03-01T12:00:00+00:00", 1, 2]),
    "object": b64_json({"at": "2026-03-01T12:00:00+00:00", "seq": 1}),
    "too long": "A" * 513,
}


def test_limit_outside_one_to_a_thousand_is_422(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    for path in PAGED:
        for limit in ("0", "1001", "-1", "x", "1.5", "1e3"):
            with subtests.test(path=path, limit=limit):
                problem = assert_problem(client.get(path, params={"limit": limit}), 422)
                assert first_loc(problem) == ["query", "limit"]
        for limit in ("1", "1000"):
            with subtests.test(path=path, limit=limit):
                assert client.get(path, params={"limit": limit}).status_code == 200


def test_a_limit_is_not_clamped(client: TestClient) -> None:
    create_patterns(client, "a", "b", "c")
    assert len(item_ids(client, "/v1/patterns", limit=2)) == 2
    assert len(item_ids(client, "/v1/patterns", limit=1000)) == 3


def test_unreadable_cursor_is_422(client: TestClient, subtests: pytest.Subtests) -> None:
    for path in PAGED:
        for name, cursor in UNREADABLE_CURSORS.items():
            with subtests.test(path=path, cursor=name):
                problem = assert_problem(client.get(path, params={"cursor": cursor}), 422)
                assert first_loc(problem) == ["query", "cursor"]


def test_a_well_formed_cursor_continues_after_its_position(client: TestClient) -> None:
    create_patterns(client, "a", "b")
    created_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the test clock's start
    later = Position(created_at + timedelta(days=1), 1).encode()
    earlier = Position(created_at - timedelta(days=1), 10**12).encode()
    assert item_ids(client, "/v1/patterns", cursor=later) == ["b", "a"]
    assert item_ids(client, "/v1/patterns", cursor=earlier) == []


@pytest.mark.parametrize(
    "position",
    [
        Position(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), 1),
        Position(datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), 9_223_372_036_854_775_807),
        Position(datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 0),
        Position(datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2, minutes=30))), 7),
    ],
    ids=["plain", "microseconds and max seq", "old", "other offset"],
)
def test_position_round_trips_through_its_cursor(position: Position) -> None:
    cursor = position.encode()
    decoded = Position.decode(cursor)
    assert decoded == position
    assert decoded.at.utcoffset() == position.at.utcoffset()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor), "cursor must be URL-safe without padding"


def test_positions_of_different_records_have_different_cursors() -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    cursors = {Position(at, 1).encode(), Position(at, 2).encode()}
    cursors.add(Position(at + timedelta(microseconds=1), 1).encode())
    assert len(cursors) == 3


def test_decode_accepts_its_cursor_with_the_padding_put_back() -> None:
    position = Position(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), 5)
    cursor = position.encode()
    padded = cursor + "=" * (-len(cursor) % 4)
    assert Position.decode(padded) == position


@pytest.mark.parametrize(
    "cursor", [c for name, c in UNREADABLE_CURSORS.items() if name != "too long"]
)
def test_decode_refuses_unreadable_cursors(cursor: str) -> None:
    with pytest.raises(ValueError, match="unreadable cursor"):
        Position.decode(cursor)
