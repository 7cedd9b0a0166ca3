"""Hostile input: deeply nested JSON, huge values within the 1 MiB limit, more fields than any
body has, odd unicode, and SQL-looking strings. Every one is answered with a 2xx or a problem
(422/413), never a 400 or a 500; text is stored and returned exactly as sent; nothing is ever
executed."""

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core.middleware import MAX_JSON_MEMBERS
from app.core.problems import MAX_LISTED_ERRORS
from app.core.settings import Settings

PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}
MiB = 1_048_576

UNICODE_TEXTS = {
    "rtl": "\u200fשלום עולם\u200e and مرحبا",
    "rtl-override": "\u202egnp.exe\u202c",
    "zero-width-joiner": "👩\u200d👩\u200d👧\u200d👦 family, 🏳️\u200d🌈 flag",
    "zero-width-space-and-bom": "a\u200bb\ufeffc\u2060d",
    "emoji-and-astral": "🚀🔥 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 \U0001f9ea",
    "combining": "Z\u0351\u036b\u0343\u036a\u0302a\u0357\u0350lgo\u0308\u0301",
    "nfc": unicodedata.normalize("NFC", "Crème brûlée, Ångström"),
    "nfd": unicodedata.normalize("NFD", "Crème brûlée, Ångström"),
    "line-separators": "one\u2028two\u2029three",
    "cjk-and-fullwidth": "漢字かなカナ ＡＢＣ",
}
SQL_TEXTS = [
    "'; DROP TABLE patterns; --",
    "1 OR 1=1",
    "' OR '1'='1",
    '" OR ""="',
    "Robert'); DROP TABLE exploration_budget;--",
    "1; SELECT pg_sleep(10); --",
    "%' UNION SELECT * FROM api_keys --",
    "\\'; DELETE FROM idempotency_keys; --",
]
TABLES = ("patterns", "exploration_budget", "pattern_applications", "api_keys", "idempotency_keys")


def assert_422(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == 422
    assert body["errors"]
    return body


def body_operations(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "p-1", path))
        for path, methods in app.openapi()["paths"].items()
        for method, operation in methods.items()
        if "requestBody" in operation
    ]


@pytest.fixture(params=[True, False], ids=["lean-readings", "std-readings"])
def any_client(
    request: pytest.FixtureRequest, settings: Settings, make_client: Callable[..., TestClient]
) -> TestClient:
    return make_client(settings.model_copy(update={"readings_group_commit": request.param}))


# -- nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("opener", [b"[", b'{"a":'], ids=["arrays", "objects"])
def test_json_nested_100k_deep_is_a_422_on_every_route_with_a_body(
    any_client: TestClient, opener: bytes
) -> None:
    # json.loads raises RecursionError on this; FastAPI alone would answer 400.
    nested = opener * 100_000
    app = any_client.app
    assert isinstance(app, FastAPI)
    for method, path in body_operations(app):
        response = any_client.request(method, path, content=nested, headers=JSON)
        body = assert_422(response)
        assert body["errors"] == [
            {"loc": ["body"], "msg": "The JSON body is nested too deeply", "type": "json_invalid"}
        ], f"{method} {path}"


def test_nesting_the_parser_accepts_is_refused_by_the_field_types(any_client: TestClient) -> None:
    deep = "[" * 900 + "]" * 900
    reading = any_client.post(
        "/v1/jobs/job-1/entropy-readings", content=f'{{"entropy": {deep}}}', headers=JSON
    )
    assert assert_422(reading)["errors"][0]["loc"] == ["body", "entropy"]
    overrides = "{" + '"a": {' * 900 + "}" * 901
    policy = any_client.post(
        "/v1/jobs/job-1/entropy-readings",
        content=f'{{"entropy": 0.2, "policy": {overrides}}}',
        headers=JSON,
    )
    assert_422(policy)


# -- size ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field", "base"),
    [
        ("/v1/patterns", "description", {"pattern_type": "s", "pattern_name": "n"}),
        ("/v1/patterns", "pattern_name", {"pattern_type": "s"}),
        (
            "/v1/budget",
            "adjustment_reason",
            {"job_hash": "j", "budget_value": 0.2, "adjustment_type": "manual"},
        ),
        ("/v1/budget", "job_hash", {"budget_value": 0.2, "adjustment_type": "manual"}),
    ],
)
def test_a_string_of_almost_1_mib_is_a_422_by_its_maximum_length(
    client: TestClient, path: str, field: str, base: dict[str, Any]
) -> None:
    huge = "x" * (MiB - 200)
    content = json.dumps({**base, field: huge}).encode()
    assert len(content) <= MiB
    body = assert_422(client.post(path, content=content, headers=JSON))
    assert body["errors"][0]["loc"] == ["body", field]
    assert huge not in json.dumps(body)  # the input is not echoed back


def test_a_body_over_1_mib_is_a_413_on_both_readings_routes(any_client: TestClient) -> None:
    content = b'{"entropy": 0.2, "pad": "' + b"x" * MiB + b'"}'
    response = any_client.post("/v1/jobs/job-1/entropy-readings", content=content, headers=JSON)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


def test_a_body_of_90k_unknown_fields_is_a_short_422(any_client: TestClient) -> None:
    fields = {f"f{i}": 0 for i in range(90_000)}
    for path, body in (
        ("/v1/jobs/job-1/entropy-readings", {"entropy": 0.2, **fields}),
        ("/v1/budget/adjustments", {"job_hash": "j", "current_entropy": 0.2, **fields}),
    ):
        content = json.dumps(body, separators=(",", ":")).encode()
        assert len(content) < MiB
        response = any_client.post(path, content=content, headers=JSON)
        problem = assert_422(response)
        assert f"more than {MAX_JSON_MEMBERS}" in problem["detail"]
        assert len(response.content) < 1000


def test_field_errors_are_listed_up_to_a_bound(client: TestClient) -> None:
    fields = {f"f{i}": 0 for i in range(2_000)}
    response = client.post(
        "/v1/budget/adjustments",
        json={"job_hash": "j", "current_entropy": 0.2, **fields},
    )
    problem = assert_422(response)
    assert len(problem["errors"]) == MAX_LISTED_ERRORS
    assert "2000 errors" in problem["detail"]


def test_a_full_batch_is_not_mistaken_for_a_hostile_body(client: TestClient) -> None:
    client.post("/v1/patterns", json={"id": "p:1", "pattern_type": "s", "pattern_name": "n"})
    application = {
        "pattern_id": "p:1",
        "execution_id": "run:2026-03-01T12:00:00Z:1",
        "job_hash": "job:a:b",
        "pattern_led_to_success": True,
        "retry_count_before": 0,
        "retry_count_after": 1,
        "grounding_confidence": 0.5,
    }
    batch = {"applications": [application] * 1000}  # ~7000 members, ~12000 colons
    content = json.dumps(batch).encode()
    assert content.count(b":") > MAX_JSON_MEMBERS
    response = client.post("/v1/pattern-applications", content=content, headers=JSON)
    assert response.status_code == 201, response.text[:300]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/jobs/job-1/entropy-readings", {"entropy": 1e308 * 10}),
        ("/v1/budget/adjustments", {"job_hash": "j", "current_entropy": 10**400}),
        ("/v1/jobs/job-1/selections", {"execution_id": "e", "seed": 2**64}),
        (
            "/v1/patterns/p-1/applications",
            {"execution_id": "e", "pattern_led_to_success": True, "retry_count_before": 10**30},
        ),
    ],
)
def test_huge_numbers_are_a_422(any_client: TestClient, path: str, body: dict[str, Any]) -> None:
    content = json.dumps(body).replace("Infinity", "1e999").encode()
    any_client.post("/v1/patterns", json={"id": "p-1", "pattern_type": "s", "pattern_name": "n"})
    assert_422(any_client.post(path, content=content, headers=JSON))


# -- unicode ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(UNICODE_TEXTS))
def test_odd_unicode_in_free_text_round_trips_byte_exact(
    client: TestClient, engine: Engine, name: str
) -> None:
    value = UNICODE_TEXTS[name]
    created = client.post(
        "/v1/patterns",
        json={
            "id": f"u-{name}",
            "pattern_type": value,
            "pattern_name": value,
            "description": value,
        },
    )
    assert created.status_code == 201, created.text
    changed = client.patch(
        f"/v1/patterns/u-{name}",
        json={"quarantine_status": "quarantined", "quarantine_reason": value},
    )
    assert changed.status_code == 200, changed.text
    applied = client.post(
        f"/v1/patterns/u-{name}/applications",
        json={"execution_id": value, "pattern_led_to_success": True},
    )
    assert applied.status_code == 201, applied.text
    budget = client.post(
        "/v1/budget",
        json={
            "job_hash": "u",
            "budget_value": 0.2,
            "adjustment_type": "manual",
            "adjustment_reason": value,
        },
    )
    assert budget.status_code == 201, budget.text

    fetched = client.get(f"/v1/patterns/u-{name}").json()
    for field in ("pattern_type", "pattern_name", "description", "quarantine_reason"):
        assert fetched[field].encode("utf-8") == value.encode("utf-8"), field
    assert applied.json()["execution_id"].encode() == value.encode()
    assert client.get("/v1/budget", params={"job_hash": "u"}).json()["adjustment_reason"] == value
    # The raw response bytes carry the text unescaped, as UTF-8.
    assert value.encode("utf-8") in client.get(f"/v1/patterns/u-{name}").content
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT pattern_name, description FROM patterns WHERE id = :id"),
            {"id": f"u-{name}"},
        ).one()
    assert tuple(stored) == (value, value)


def test_nfc_and_nfd_are_different_texts_kept_apart(client: TestClient) -> None:
    nfc, nfd = UNICODE_TEXTS["nfc"], UNICODE_TEXTS["nfd"]
    assert nfc != nfd
    assert unicodedata.normalize("NFC", nfd) == nfc
    for pattern_id, value in (("nfc", nfc), ("nfd", nfd)):
        response = client.post(
            "/v1/patterns", json={"id": pattern_id, "pattern_type": "s", "pattern_name": value}
        )
        assert response.status_code == 201
    assert client.get("/v1/patterns/nfc").json()["pattern_name"] == nfc
    assert client.get("/v1/patterns/nfd").json()["pattern_name"] == nfd


@pytest.mark.parametrize(
    "value", ["a\u0000b", "bell\u0007", "esc\u001b[31m", "del\u007f", "c1\u0085", "lone\ud800"]
)
def test_control_characters_and_lone_surrogates_are_refused(client: TestClient, value: str) -> None:
    content = json.dumps({"pattern_type": "s", "pattern_name": value})  # \\uXXXX escapes
    assert_422(client.post("/v1/patterns", content=content, headers=JSON))


@pytest.mark.parametrize("value", ["é", "job-é", "ｊｏｂ", "job\u200b", "٣"])
def test_identifiers_stay_ascii(client: TestClient, value: str) -> None:
    assert_422(
        client.post("/v1/budget/adjustments", json={"job_hash": value, "current_entropy": 0.2})
    )
    assert_422(client.get("/v1/budget/history", params={"job_hash": value}))


# -- SQL-looking strings ---------------------------------------------------------------------


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in TABLES
        }


@pytest.mark.parametrize("value", SQL_TEXTS)
def test_sql_in_free_text_is_stored_verbatim(
    client: TestClient, engine: Engine, value: str
) -> None:
    created = client.post(
        "/v1/patterns",
        json={"id": "sql-1", "pattern_type": value, "pattern_name": value, "description": value},
    )
    assert created.status_code == 201, created.text
    client.post(
        "/v1/patterns/sql-1/applications",
        json={"execution_id": value, "pattern_led_to_success": False},
    )
    client.post(
        "/v1/budget",
        json={
            "job_hash": "sql",
            "budget_value": 0.2,
            "adjustment_type": "manual",
            "adjustment_reason": value,
        },
    )
    client.patch(
        "/v1/patterns/sql-1", json={"quarantine_status": "retired", "quarantine_reason": value}
    )

    pattern = client.get("/v1/patterns/sql-1").json()
    assert [
        pattern[f] for f in ("pattern_type", "pattern_name", "description", "quarantine_reason")
    ] == [value] * 4
    assert client.get("/v1/budget", params={"job_hash": "sql"}).json()["adjustment_reason"] == value
    assert table_counts(engine) == {
        "patterns": 1,
        "exploration_budget": 1,
        "pattern_applications": 1,
        "api_keys": 0,
        "idempotency_keys": 0,
    }


@pytest.mark.parametrize("value", SQL_TEXTS)
def test_sql_in_identifiers_is_refused_by_the_pattern(
    client: TestClient, engine: Engine, value: str
) -> None:
    client.post("/v1/patterns", json={"id": "p-1", "pattern_type": "s", "pattern_name": "n"})
    before = table_counts(engine)
    assert_422(
        client.post("/v1/budget/adjustments", json={"job_hash": value, "current_entropy": 0.2})
    )
    assert_422(
        client.post("/v1/patterns", json={"id": value, "pattern_type": "s", "pattern_name": "n"})
    )
    assert_422(
        client.post(
            "/v1/pattern-applications",
            json={
                "applications": [
                    {"pattern_id": value, "execution_id": "e", "pattern_led_to_success": True}
                ]
            },
        )
    )
    for query in ("job_hash", "cursor"):
        assert_422(client.get("/v1/budget/history", params={query: value}))
    assert_422(client.get("/v1/patterns", params={"quarantine_status": value}))
    assert_422(client.get("/v1/budget/history", params={"job_hash": "j", "since": value}))
    for path in ("/v1/jobs/{}/policy", "/v1/patterns/{}", "/v1/budget/records/{}"):
        response = client.get(path.format(value.replace("/", "")))
        assert response.status_code in {404, 422}, f"{path}: {response.text}"
        assert response.headers["content-type"] == PROBLEM
    assert_422(
        client.post(
            "/v1/jobs/{}/entropy-readings".format(value.replace("/", "")), json={"entropy": 0.2}
        )
    )
    assert table_counts(engine) == before


def test_sql_in_an_idempotency_key_is_just_a_key(client: TestClient, engine: Engine) -> None:
    key = "';DROP-TABLE-idempotency_keys;--"
    body = {"job_hash": "j", "current_entropy": 0.2}
    first = client.post("/v1/budget/adjustments", json=body, headers={"Idempotency-Key": key})
    again = client.post("/v1/budget/adjustments", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT key FROM idempotency_keys")).scalar_one()
    assert stored == key
    with_spaces = client.post(
        "/v1/budget/adjustments", json=body, headers={"Idempotency-Key": "1 OR 1=1"}
    )
    assert_422(with_spaces)
