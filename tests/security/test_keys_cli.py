"""`entropy-budget keys create|list|revoke|generate` against the test database, and `serve`
refusing a non-loopback address while no API key is configured."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app import cli
from app.core import api_keys
from app.core.settings import Settings
from tests.security.conftest import CONFIGURED_KEYS, bearer

runner = CliRunner()


@pytest.fixture
def keys_cli(database_url: str) -> Callable[..., Any]:
    """Run `entropy-budget ARGS...` with DATABASE_URL set to the test database."""

    def invoke(*args: str, env: dict[str, str | None] | None = None) -> Any:
        environment: dict[str, str | None] = {
            "DATABASE_URL": database_url,
            "API_KEYS": None,
            "ENTROPY_BUDGET_ALLOW_OPEN": None,
            **(env or {}),
        }
        return runner.invoke(cli.cli, list(args), env=environment)

    return invoke


def test_create_prints_the_key_once_and_stores_its_hash(
    keys_cli: Callable[..., Any], engine: Engine
) -> None:
    result = keys_cli("keys", "create", "--name", "orchestrator", "--scope", "write")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("eb_")
    assert len(key) == 3 + 43  # token_urlsafe(32)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM api_keys")).mappings().one()
    assert row["name"] == "orchestrator"
    assert row["scope"] == "write"
    assert row["key_hash"] == api_keys.hash_key(key)
    assert row["prefix"] == key[:8]
    assert key not in json.dumps({k: str(v) for k, v in row.items()})  # no plaintext anywhere

    listed = keys_cli("keys", "list")
    assert listed.exit_code == 0
    assert "orchestrator" in listed.output
    assert key[:8] in listed.output
    assert key not in listed.output


def test_create_json_list_json_and_revoke_by_name_or_id(
    keys_cli: Callable[..., Any],
    settings: Settings,
    make_client: Callable[..., TestClient],
) -> None:
    created = json.loads(
        keys_cli("keys", "create", "--name", "ci", "--scope", "write", "--json").output
    )
    reader = json.loads(
        keys_cli("keys", "create", "--name", "dash", "--scope", "read", "--json").output
    )
    assert set(created) == {
        "id", "name", "scope", "prefix", "created_at", "revoked_at", "last_used_at", "key"
    }  # fmt: skip

    client = make_client(settings.model_copy(update={"api_keys_cache_seconds": 0.0}))
    assert client.get("/v1/jobs").status_code == 401
    assert client.get("/v1/jobs", headers=bearer(reader["key"])).status_code == 200
    body = {"job_hash": "cli", "current_entropy": 0.2}
    assert (
        client.post("/v1/budget/adjustments", json=body, headers=bearer(reader["key"])).status_code
        == 403
    )
    assert (
        client.post("/v1/budget/adjustments", json=body, headers=bearer(created["key"])).status_code
        == 201
    )

    revoked = keys_cli("keys", "revoke", "dash")
    assert revoked.exit_code == 0, revoked.output
    assert "Revoked the read key 'dash'" in revoked.output
    assert keys_cli("keys", "revoke", created["id"]).exit_code == 0
    assert client.get("/v1/jobs", headers=bearer(reader["key"])).status_code == 200  # open again

    listing = json.loads(keys_cli("keys", "list", "--json").output)["items"]
    assert [(k["name"], k["scope"], k["revoked_at"] is not None) for k in listing] == [
        ("ci", "write", True),
        ("dash", "read", True),
    ]
    assert all("key" not in item and "key_hash" not in item for item in listing)
    assert json.loads(keys_cli("keys", "list", "--active", "--json").output)["items"] == []


def test_refusals_exit_1_with_a_reason(keys_cli: Callable[..., Any]) -> None:
    assert keys_cli("keys", "create", "--name", "ci", "--scope", "read").exit_code == 0
    again = keys_cli("keys", "create", "--name", "ci", "--scope", "read")
    assert again.exit_code == 1
    assert "already exists" in again.output
    unknown = keys_cli("keys", "revoke", "nobody")
    assert unknown.exit_code == 1
    assert "no key named or with id 'nobody'" in unknown.output
    assert keys_cli("keys", "revoke", "ci").exit_code == 0
    twice = keys_cli("keys", "revoke", "ci")
    assert twice.exit_code == 1
    assert "already revoked" in twice.output
    bad_name = keys_cli("keys", "create", "--name", "two words", "--scope", "read")
    assert bad_name.exit_code == 1
    assert keys_cli("keys", "create", "--name", "x", "--scope", "admin").exit_code == 2


def test_an_unmigrated_database_is_exit_2(keys_cli: Callable[..., Any], tmp_path: Any) -> None:
    result = keys_cli("keys", "list", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"})
    assert result.exit_code == 2
    assert "entropy-budget migrate" in result.output


def test_generate_makes_a_key_for_the_api_keys_setting(
    keys_cli: Callable[..., Any], settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    result = keys_cli("keys", "generate", "--scope", "read")
    assert result.exit_code == 0
    lines = dict(line.split(": ", 1) for line in result.output.strip().splitlines())
    key = next(v.strip() for k, v in lines.items() if k.startswith("key"))
    entry = next(v.strip() for k, v in lines.items() if k.startswith("API_KEYS"))
    assert entry == f"read:{api_keys.hash_key(key)}"
    client = make_client(settings.model_copy(update={"api_keys": entry}))
    assert client.get("/v1/jobs", headers=bearer(key)).status_code == 200
    assert client.get("/v1/jobs").status_code == 401


# -- serve ---------------------------------------------------------------------------------


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.internal"])
def test_serve_refuses_a_non_loopback_address_without_keys(
    keys_cli: Callable[..., Any], uvicorn_calls: list[dict[str, Any]], host: str
) -> None:
    result = keys_cli("serve", "--host", host)
    assert result.exit_code == 1
    assert f"refusing to serve on {host}" in result.output
    assert "--allow-open" in result.output
    assert uvicorn_calls == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_serve_binds_loopback_without_keys(
    keys_cli: Callable[..., Any], uvicorn_calls: list[dict[str, Any]], host: str
) -> None:
    result = keys_cli("serve", "--host", host)
    assert result.exit_code == 0, result.output
    assert uvicorn_calls[0]["host"] == host


@pytest.mark.parametrize(
    ("arguments", "env"),
    [
        (["--allow-open"], {}),
        ([], {"ENTROPY_BUDGET_ALLOW_OPEN": "true"}),
        ([], {"ENTROPY_BUDGET_ALLOW_OPEN": "1"}),
    ],
    ids=["option", "env-true", "env-1"],
)
def test_serve_runs_open_when_told_to(
    keys_cli: Callable[..., Any],
    uvicorn_calls: list[dict[str, Any]],
    arguments: list[str],
    env: dict[str, str],
) -> None:
    result = keys_cli("serve", "--host", "0.0.0.0", "--port", "8123", *arguments, env=env)
    assert result.exit_code == 0, result.output
    assert "the service is open" in result.output
    assert (uvicorn_calls[0]["host"], uvicorn_calls[0]["port"]) == ("0.0.0.0", 8123)


def test_serve_binds_anywhere_once_keys_are_configured(
    keys_cli: Callable[..., Any], uvicorn_calls: list[dict[str, Any]]
) -> None:
    from_setting = keys_cli("serve", "--host", "0.0.0.0", env={"API_KEYS": CONFIGURED_KEYS})
    assert from_setting.exit_code == 0, from_setting.output
    assert "open" not in from_setting.output

    assert keys_cli("keys", "create", "--name", "ci", "--scope", "write").exit_code == 0
    from_table = keys_cli("serve", "--host", "0.0.0.0")
    assert from_table.exit_code == 0, from_table.output
    assert len(uvicorn_calls) == 2

    assert keys_cli("keys", "revoke", "ci").exit_code == 0  # a revoked key does not count
    assert keys_cli("serve", "--host", "0.0.0.0").exit_code == 1


def test_serve_refuses_a_malformed_api_keys_setting(
    keys_cli: Callable[..., Any], uvicorn_calls: list[dict[str, Any]]
) -> None:
    result = keys_cli("serve", env={"API_KEYS": "write:not-a-hash"})
    assert result.exit_code == 2
    assert "API_KEYS entry 1 (starting 'write')" in result.output
    assert "not-a-hash" not in result.output  # settings never echo their input
    assert uvicorn_calls == []
