"""API keys: 401 without a fitting key, 403 for a read key on a write, open routes, key
sources (the API_KEYS setting and the keys table), revocation, the cache, constant-time
comparison and idempotency keys scoped per API key."""

import hmac
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, text

from app.core import api_keys
from app.core.settings import Settings, parse_api_keys
from app.main import create_app
from tests.security.conftest import READ_KEY, WRITE_KEY, bearer
from tests.support import ManualClock

PROBLEM = "application/problem+json"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def v1_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, concrete path) of every /v1 operation of the OpenAPI document, path parameters
    filled with a valid identifier. The lean readings route is hidden from the document, but
    it serves the documented readings path whenever group commit is on."""
    operations = set()
    for path, methods in app.openapi()["paths"].items():
        if path.startswith("/v1/"):
            concrete = re.sub(r"\{[^}]+\}", "p-1", path)
            operations |= {(method.upper(), concrete) for method in methods}
    return sorted(operations)


def call(client: TestClient, method: str, path: str, key: str | None) -> Any:
    headers = bearer(key) if key else {}
    if method in WRITE_METHODS:
        return client.request(method, path, json={}, headers=headers)
    return client.request(method, path, headers=headers)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= set(body)
    return body


@pytest.mark.parametrize("group_commit", [True, False], ids=["lean-readings", "std-readings"])
def test_every_v1_route_needs_a_key_and_writes_need_the_write_scope(
    keyed_settings: Settings, make_client: Callable[..., TestClient], group_commit: bool
) -> None:
    client = make_client(keyed_settings.model_copy(update={"readings_group_commit": group_commit}))
    app = client.app
    assert isinstance(app, FastAPI)
    operations = v1_operations(app)
    assert len(operations) >= 28
    assert ("POST", "/v1/jobs/p-1/entropy-readings") in operations
    for method, path in operations:
        for key in (None, "eb_not-a-key"):
            response = call(client, method, path, key)
            body = assert_problem(response, 401)
            assert body["type"] == "urn:entropy-budget:problem:unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer ")
        read = call(client, method, path, READ_KEY)
        if method in WRITE_METHODS:
            assert_problem(read, 403)
        else:
            assert read.status_code not in {401, 403}, f"{method} {path}: {read.text}"
        write = call(client, method, path, WRITE_KEY)
        assert write.status_code not in {401, 403}, f"{method} {path}: {write.text}"


def test_a_malformed_authorization_header_is_a_401(keyed_client: TestClient) -> None:
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", f"Token {WRITE_KEY}", WRITE_KEY):
        response = keyed_client.get("/v1/jobs", headers={"Authorization": value})
        assert_problem(response, 401)
    # The scheme is case-insensitive (RFC 9110) and surrounding spaces do not matter.
    response = keyed_client.get("/v1/jobs", headers={"Authorization": f"bearer  {READ_KEY} "})
    assert response.status_code == 200


def test_the_challenges_follow_rfc_6750(keyed_client: TestClient) -> None:
    missing = keyed_client.get("/v1/jobs")
    assert missing.headers["www-authenticate"] == 'Bearer realm="entropy-budget"'
    unknown = keyed_client.get("/v1/jobs", headers=bearer("eb_unknown"))
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]
    forbidden = keyed_client.post("/v1/budget", json={}, headers=bearer(READ_KEY))
    assert 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]


OPEN_PATHS = [
    "/healthz",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/static-offline-docs/swagger-ui-bundle.js",
    "/dashboard",
    "/dashboard/static/dashboard.js",
]


@pytest.mark.parametrize("path", OPEN_PATHS)
def test_open_routes_need_no_key(keyed_client: TestClient, path: str) -> None:
    response = keyed_client.get(path)
    assert response.status_code == 200, response.text


def test_readyz_and_metrics_are_never_refused_for_want_of_a_key(
    keyed_client: TestClient,
) -> None:
    # Open by rule even where this build has no such route (other branches add them).
    for path in ("/readyz", "/metrics"):
        assert keyed_client.get(path).status_code not in {401, 403}


def test_metrics_can_require_a_key(
    keyed_settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(keyed_settings.model_copy(update={"metrics_require_key": True}))
    assert_problem(client.get("/metrics"), 401)
    assert client.get("/metrics", headers=bearer(READ_KEY)).status_code not in {401, 403}
    assert client.get("/healthz").status_code == 200


def test_unknown_paths_need_a_key_too(keyed_client: TestClient) -> None:
    assert_problem(keyed_client.get("/v2/anything"), 401)
    assert_problem(keyed_client.get("/dashboardx"), 401)
    assert keyed_client.get("/v2/anything", headers=bearer(READ_KEY)).status_code == 404


def test_without_any_key_the_service_runs_open(client: TestClient) -> None:
    response = client.post(
        "/v1/budget/adjustments", json={"job_hash": "open", "current_entropy": 0.2}
    )
    assert response.status_code == 201
    # A key sent to an open service is ignored, whatever it is.
    assert client.get("/v1/jobs", headers=bearer("eb_whatever")).status_code == 200


def test_keys_of_the_table_work_and_a_revoked_one_is_refused(
    settings: Settings,
    make_client: Callable[..., TestClient],
    table_key: Callable[..., api_keys.CreatedKey],
    revoke: Callable[[str], None],
) -> None:
    writer = table_key("orchestrator", "write")
    reader = table_key("dashboard", "read")
    client = make_client(settings.model_copy(update={"api_keys_cache_seconds": 0.0}))

    assert_problem(client.get("/v1/jobs"), 401)  # a key in the table closes the service
    assert client.get("/v1/jobs", headers=bearer(reader.key)).status_code == 200
    body = {"job_hash": "table", "current_entropy": 0.2}
    assert_problem(
        client.post("/v1/budget/adjustments", json=body, headers=bearer(reader.key)), 403
    )
    created = client.post("/v1/budget/adjustments", json=body, headers=bearer(writer.key))
    assert created.status_code == 201

    revoke("dashboard")
    assert_problem(client.get("/v1/jobs", headers=bearer(reader.key)), 401)
    assert client.get("/v1/jobs", headers=bearer(writer.key)).status_code == 200

    revoke("orchestrator")  # no key left that is not revoked: open again
    assert client.get("/v1/jobs").status_code == 200


def test_setting_and_table_keys_work_side_by_side(
    keyed_settings: Settings,
    make_client: Callable[..., TestClient],
    table_key: Callable[..., api_keys.CreatedKey],
) -> None:
    from_table = table_key("ci", "write")
    client = make_client(keyed_settings)
    body = {"job_hash": "both", "current_entropy": 0.2}
    for key in (WRITE_KEY, from_table.key):
        response = client.post("/v1/budget/adjustments", json=body, headers=bearer(key))
        assert response.status_code == 201, response.text


def test_revocation_takes_effect_within_the_cache_period(
    settings: Settings,
    make_client: Callable[..., TestClient],
    table_key: Callable[..., api_keys.CreatedKey],
    revoke: Callable[[str], None],
) -> None:
    table_key("stays", "read")  # so that the service stays closed after the revocation
    key = table_key("short-lived", "read").key
    # Long enough that the two requests below fall inside it even on a loaded machine.
    cache_seconds = 3.0
    client = make_client(settings.model_copy(update={"api_keys_cache_seconds": cache_seconds}))
    assert client.get("/v1/jobs", headers=bearer(key)).status_code == 200
    revoke("short-lived")
    # Still cached (at most API_KEYS_CACHE_SECONDS)...
    assert client.get("/v1/jobs", headers=bearer(key)).status_code == 200
    time.sleep(cache_seconds + 0.1)
    # ...and refused once the cache has expired.
    assert_problem(client.get("/v1/jobs", headers=bearer(key)), 401)


def test_the_table_is_read_once_per_cache_period_not_per_request(
    settings: Settings,
    make_client: Callable[..., TestClient],
    table_key: Callable[..., api_keys.CreatedKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = table_key("busy", "read").key
    loads: list[int] = []
    original = api_keys.active_keys

    def counting(session: Any) -> Any:
        loads.append(1)
        return original(session)

    monkeypatch.setattr(api_keys, "active_keys", counting)
    client = make_client(settings.model_copy(update={"api_keys_cache_seconds": 60.0}))
    for _ in range(25):
        assert client.get("/v1/jobs", headers=bearer(key)).status_code == 200
    assert len(loads) == 1


def test_keys_are_compared_in_constant_time(
    keyed_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[Any, Any]] = []
    original = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    assert keyed_client.get("/v1/jobs", headers=bearer(READ_KEY)).status_code == 200
    assert keyed_client.get("/v1/jobs", headers=bearer(WRITE_KEY)).status_code == 200
    # The stored hash against the candidate's hash, never a key against a key.
    assert compared == [(api_keys.hash_key(READ_KEY),) * 2, (api_keys.hash_key(WRITE_KEY),) * 2]


def test_the_table_holds_hashes_only_and_records_use(
    settings: Settings,
    engine: Engine,
    make_client: Callable[..., TestClient],
    table_key: Callable[..., api_keys.CreatedKey],
    clock: ManualClock,
) -> None:
    created = table_key("audited", "read")
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT key_hash, prefix, last_used_at FROM api_keys WHERE name = 'audited'")
        ).one()
    assert row.key_hash == api_keys.hash_key(created.key) != created.key
    assert created.key.startswith(row.prefix)
    assert len(row.prefix) == 8
    assert row.last_used_at is None

    client = make_client(settings.model_copy(update={"api_keys_cache_seconds": 0.0}))
    assert client.get("/v1/jobs", headers=bearer(created.key)).status_code == 200
    assert client.get("/v1/jobs", headers=bearer(created.key)).status_code == 200  # flushes
    with engine.connect() as connection:
        used = connection.execute(
            text("SELECT last_used_at FROM api_keys WHERE name = 'audited'")
        ).scalar_one()
    assert used is not None
    assert str(used).startswith(clock.now.strftime("%Y-%m-%d %H:%M:%S"))


@pytest.mark.parametrize(
    "path",
    ["/v1/budget/adjustments", "/v1/jobs/idem/entropy-readings"],
    ids=["standard-route", "lean-readings-route"],
)
def test_idempotency_keys_are_scoped_per_api_key(
    keyed_settings: Settings,
    make_client: Callable[..., TestClient],
    table_key: Callable[..., api_keys.CreatedKey],
    path: str,
) -> None:
    other = table_key("second-writer", "write").key
    client = make_client(keyed_settings)
    body = (
        {"job_hash": "idem", "current_entropy": 0.2} if "adjustments" in path else {"entropy": 0.2}
    )
    headers = {"Idempotency-Key": "same-key-1"}

    first = client.post(path, json=body, headers={**headers, **bearer(WRITE_KEY)})
    replay = client.post(path, json=body, headers={**headers, **bearer(WRITE_KEY)})
    second = client.post(path, json=body, headers={**headers, **bearer(other)})

    assert first.status_code == replay.status_code == second.status_code == 201
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.content == first.content
    # The same key from another API key is another request: it ran, and wrote its own record.
    assert "idempotent-replayed" not in second.headers
    assert second.headers["location"] != first.headers["location"]


def test_api_keys_setting_is_validated_at_startup() -> None:
    digest = "a" * 64
    assert [k.scope for k in parse_api_keys(f" read:{digest} ,, WRITE:{digest.upper()}")] == [
        "read",
        "write",
    ]
    for bad in ("plaintext-key", f"admin:{digest}", "read:abc", f"{digest}", f"read:{digest}x"):
        with pytest.raises(ValidationError, match="API_KEYS entry 1"):
            Settings(api_keys=bad)


def test_a_plaintext_key_is_not_echoed_in_the_startup_error() -> None:
    # Settings hide their input in errors: a key (or a DATABASE_URL's password) put where it
    # does not belong never reaches the logs through a validation error.
    with pytest.raises(ValidationError) as raised:
        Settings(api_keys=f"write:{WRITE_KEY}")
    assert WRITE_KEY not in str(raised.value)
    assert "API_KEYS entry 1 (starting 'write')" in str(raised.value)


def test_an_unreadable_keys_table_is_a_503_not_an_open_door(
    tmp_path: Any, clock: ManualClock
) -> None:
    # A database without the schema (or down): the keys cannot be read, so nothing but the
    # open routes is served; a 503 with Retry-After, neither a 500 nor an open door.
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
        api_keys=f"read:{api_keys.hash_key(READ_KEY)}",
    )
    with TestClient(create_app(settings, clock=clock)) as client:
        assert client.get("/healthz").status_code == 200
        for headers in ({}, bearer(READ_KEY)):
            response = client.get("/v1/jobs", headers=headers)
            assert_problem(response, 503)
            assert int(response.headers["retry-after"]) > 0
