"""Request bodies: UTF-8 JSON only, finite numbers, no unknown fields, no control characters.
Every refused write leaves the database exactly as it was."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.patterns.helpers import (
    RETRY_COUNT_MAX,
    application_body,
    assert_problem,
    batch_items,
    create_pattern,
    first_loc,
    get_pattern,
    nothing_written,
    post_batch,
    post_raw,
    refused,
)

PATTERN = {"pattern_type": "retry", "pattern_name": "backoff"}
APPLICATION = {"execution_id": "e-1", "pattern_led_to_success": True}
BATCH = {"applications": [{**APPLICATION, "pattern_id": "p"}]}
WRITES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "create pattern": ("POST", "/v1/patterns", PATTERN),
    "patch pattern": ("PATCH", "/v1/patterns/p", {"quarantine_status": "retired"}),
    "apply pattern": ("POST", "/v1/patterns/p/applications", APPLICATION),
    "batch": ("POST", "/v1/pattern-applications", BATCH),
    "snapshot": ("POST", "/v1/pattern-entropy/snapshots", {"alert_threshold": 0.5}),
}
NOT_UTF8 = {
    "0xff": b'{"a": "\xff"}',
    "latin-1": b'{"pattern_type": "caf\xe9"}',
    "bad continuation": b"\xc3\x28",
    "encoded surrogate": b'{"x": "\xed\xa0\x80"}',
}
MALFORMED = {
    "truncated": '{"pattern_type": ',
    "single quotes": "{'a': 1}",
    "trailing comma": '{"a": 1,}',
    "bare word": "nul",
    "trailing text": '{"a": 1} trailing',
    "two objects": "{}{}",
}
CONTROL_CHARACTERS = ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085", "\u009f"]
LONE_SURROGATES = ["\\ud800", "\\udfff", "\\ud83d", "x\\udc00y"]
TEXT_FIELDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "pattern_name": ("POST", "/v1/patterns", PATTERN),
    "pattern_type": ("POST", "/v1/patterns", PATTERN),
    "description": ("POST", "/v1/patterns", PATTERN),
    "execution_id": ("POST", "/v1/patterns/p/applications", APPLICATION),
    "quarantine_reason": ("PATCH", "/v1/patterns/p", {"quarantine_status": "quarantined"}),
}


@pytest.fixture
def existing(client: TestClient) -> dict[str, Any]:
    """Pattern `p`, which the write requests above refer to."""
    return create_pattern(client, id="p")


def test_the_valid_bodies_are_accepted(
    client: TestClient, existing: object, subtests: pytest.Subtests
) -> None:
    """The baseline every refusal below differs from by one defect."""
    for write, (method, path, body) in WRITES.items():
        with subtests.test(write):
            response = post_raw(client, path, json.dumps(body), method=method)
            assert response.status_code in {200, 201}, response.text


def test_body_that_is_not_utf8_is_422(
    client: TestClient, engine: Engine, existing: object, subtests: pytest.Subtests
) -> None:
    for write, (method, path, _) in WRITES.items():
        for name, raw in NOT_UTF8.items():
            with subtests.test(f"{write}: {name}"):
                assert first_loc(refused(client, engine, method, path, raw))[0] == "body"


def test_json_in_another_unicode_encoding_is_422(
    client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    """The contract accepts UTF-8 JSON only; a UTF-16/32 body is not valid UTF-8 JSON."""
    for encoding in ("utf-16", "utf-16-be", "utf-32"):
        with subtests.test(encoding):
            raw = json.dumps(PATTERN).encode(encoding)
            refused(client, engine, "POST", "/v1/patterns", raw)


def test_malformed_json_is_422(
    client: TestClient, engine: Engine, existing: object, subtests: pytest.Subtests
) -> None:
    for write, (method, path, _) in WRITES.items():
        for name, raw in MALFORMED.items():
            with subtests.test(f"{write}: {name}"):
                refused(client, engine, method, path, raw)


def test_empty_body_is_422_where_a_body_is_required(
    client: TestClient, engine: Engine, existing: object, subtests: pytest.Subtests
) -> None:
    for write, (method, path, _) in WRITES.items():
        if write != "snapshot":
            with subtests.test(write):
                refused(client, engine, method, path, "")


def test_empty_body_is_no_body_for_a_snapshot(client: TestClient) -> None:
    """The snapshot body is optional: an empty one means "compute now and record"."""
    assert post_raw(client, "/v1/pattern-entropy/snapshots", "").status_code == 201


@pytest.mark.parametrize(
    "case",
    [
        ("/v1/pattern-entropy/snapshots", '{"alert_threshold": %s}'),
        (
            "/v1/patterns/p/applications",
            '{"execution_id": "e", "pattern_led_to_success": true, "grounding_confidence": %s}',
        ),
        (
            "/v1/pattern-applications",
            '{"applications": [{"pattern_id": "p", "execution_id": "e",'
            ' "pattern_led_to_success": null, "grounding_confidence": %s}]}',
        ),
        (
            "/v1/patterns/p/applications",
            '{"execution_id": "e", "pattern_led_to_success": true, "retry_count_before": %s}',
        ),
    ],
    ids=["alert_threshold", "grounding_confidence", "batch confidence", "retry count"],
)
def test_non_finite_numbers_are_422(
    client: TestClient,
    engine: Engine,
    existing: object,
    subtests: pytest.Subtests,
    case: tuple[str, str],
) -> None:
    path, template = case
    assert post_raw(client, path, template % "0").status_code == 201  # the template is sound
    for literal in ("NaN", "Infinity", "-Infinity"):
        with subtests.test(literal):
            refused(client, engine, "POST", path, template % literal)


def test_unknown_fields_are_422(
    client: TestClient, engine: Engine, existing: object, subtests: pytest.Subtests
) -> None:
    for write, (method, path, body) in WRITES.items():
        with subtests.test(write):
            raw = json.dumps({**body, "surprise": 1})
            problem = refused(client, engine, method, path, raw)
            assert ["body", "surprise"] in [error["loc"] for error in problem["errors"]]


def test_unknown_fields_inside_batch_items_are_422(
    client: TestClient, engine: Engine, existing: object
) -> None:
    items = batch_items(["p", "p"])
    items[1]["weight"] = 2
    with nothing_written(engine):
        problem = assert_problem(post_batch(client, items), 422)
    assert first_loc(problem) == ["body", "applications", 1, "weight"]


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_control_characters_in_text_fields_are_422(
    client: TestClient, engine: Engine, existing: object, subtests: pytest.Subtests, field: str
) -> None:
    method, path, body = TEXT_FIELDS[field]
    for character in CONTROL_CHARACTERS:
        with subtests.test(f"U+{ord(character):04X}"):
            raw = json.dumps({**body, field: f"before{character}after"})
            assert first_loc(refused(client, engine, method, path, raw)) == ["body", field]


def test_control_characters_in_batch_execution_ids_are_422(
    client: TestClient, engine: Engine, existing: object
) -> None:
    items = batch_items(["p", "p"])
    items[1]["execution_id"] = "exec\u0000"
    with nothing_written(engine):
        problem = assert_problem(post_batch(client, items), 422)
    assert first_loc(problem) == ["body", "applications", 1, "execution_id"]


def test_tabs_and_newlines_in_long_text_are_kept(client: TestClient) -> None:
    for number, whitespace in enumerate(["\t", "\n", "\r\n", "\t\n"]):
        text = f"line one{whitespace}line two"
        pattern_id = f"p{number}"
        assert create_pattern(client, id=pattern_id, description=text)["description"] == text
        assert get_pattern(client, pattern_id)["description"] == text
        response = client.patch(
            f"/v1/patterns/{pattern_id}",
            json={"quarantine_status": "quarantined", "quarantine_reason": text},
        )
        assert response.json()["quarantine_reason"] == text


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_lone_surrogates_are_422(
    client: TestClient, engine: Engine, existing: object, subtests: pytest.Subtests, field: str
) -> None:
    method, path, body = TEXT_FIELDS[field]
    for escape in LONE_SURROGATES:
        with subtests.test(escape):
            raw = json.dumps({**body, field: "PLACEHOLDER"}).replace("PLACEHOLDER", escape)
            assert first_loc(refused(client, engine, method, path, raw))[:2] == ["body", field]


def test_escaped_surrogate_pairs_and_unicode_are_fine(client: TestClient) -> None:
    raw = '{"pattern_type": "t", "pattern_name": "smile \\ud83d\\ude00 caf\\u00e9 \u6f22"}'
    response = post_raw(client, "/v1/patterns", raw)
    assert response.status_code == 201
    assert response.json()["pattern_name"] == "smile \U0001f600 caf\u00e9 \u6f22"


def test_loosely_typed_values_are_422(
    client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    for body in (
        {"pattern_type": 1, "pattern_name": "n"},
        {"pattern_type": "t", "pattern_name": None},
        {"pattern_type": ["t"], "pattern_name": "n"},
        {"pattern_type": "t", "pattern_name": "n", "quarantine_status": True},
    ):
        with subtests.test(body=body):
            refused(client, engine, "POST", "/v1/patterns", json.dumps(body))


@pytest.mark.parametrize("field", ["retry_count_before", "retry_count_after"])
def test_retry_counts_outside_zero_to_int32_max_are_422(
    client: TestClient, engine: Engine, existing: object, subtests: pytest.Subtests, field: str
) -> None:
    for value in (-1, RETRY_COUNT_MAX + 1, 2**63, 1.5, "1", True, None):
        with subtests.test(value=value):
            raw = json.dumps({**application_body(), field: value})
            problem = refused(client, engine, "POST", "/v1/patterns/p/applications", raw)
            assert first_loc(problem)[:2] == ["body", field]


def test_retry_counts_are_checked_in_batches_too(
    client: TestClient, engine: Engine, existing: object
) -> None:
    for value in (-1, RETRY_COUNT_MAX + 1):
        items = batch_items(["p", "p"])
        items[1]["retry_count_after"] = value
        with nothing_written(engine):
            problem = assert_problem(post_batch(client, items), 422)
        assert first_loc(problem) == ["body", "applications", 1, "retry_count_after"]


def test_retry_counts_within_range_are_stored(client: TestClient, existing: object) -> None:
    for value in (0, 1, RETRY_COUNT_MAX):
        response = client.post(
            "/v1/patterns/p/applications",
            json=application_body(retry_count_before=value, retry_count_after=RETRY_COUNT_MAX),
        )
        assert response.status_code == 201, response.text
        stored = client.get(response.headers["location"]).json()
        assert (stored["retry_count_before"], stored["retry_count_after"]) == (
            value,
            RETRY_COUNT_MAX,
        )
