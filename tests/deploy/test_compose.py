"""docker-compose.yml against the app: settings, secrets, database URL, CLI, readiness, pool
arithmetic, limits, logs, nginx; and the first run that makes its secrets."""

import hashlib
import json
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from compose_spec import PyCompose
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from app import cli
from app.core.db import database_url
from app.core.settings import Settings, parse_api_keys
from tests.deploy.conftest import FirstRun, first_run
from tests.deploy.files import (
    COMPOSE_FILE,
    SECRETS_MOUNT,
    command_of,
    compose,
    dockerfile_stages,
    healthcheck,
    nginx_directives,
    nginx_upstreams,
    service_environment,
    with_secrets,
)
from tests.support import PROJECT_ROOT

APP_SERVICES = ("migrate", "api")

DOCUMENTED_EXTRAS = {
    "WEB_CONCURRENCY": "`entropy-budget serve --workers` (read by the CLI, not by Settings)",
    "FORWARDED_ALLOW_IPS": "uvicorn: whose X-Forwarded-* headers to trust",
}
"""Variables the app services set that are not Settings fields; each is in docs/operations.md."""
OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"

POSTGRES_SUPERUSER_RESERVED = 3  # PostgreSQL's default superuser_reserved_connections
HEADROOM = 10  # kept free for `migrate`, psql and monitoring (stated in docker-compose.yml)

runner = CliRunner()


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = compose()["services"]
    return services


def test_compose_file_follows_the_compose_specification() -> None:
    # A strict third-party parser of the Compose specification: unknown keys (a misspelt
    # `healthcheck`, `replica`, …) and invalid values (`restart: never`) are errors.
    PyCompose.from_json(json.dumps(compose())).validate()


def test_the_five_services_and_their_wiring(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "migrate", "api", "redis", "nginx"}
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7-alpine"
    assert services["nginx"]["image"] == "nginx:1.27-alpine"

    # migrate and api run the one image built from this repository's Dockerfile.
    assert services["migrate"]["image"] == services["api"]["image"]
    assert services["migrate"]["build"] == services["api"]["build"] == "."

    # One published port, nginx's 8080, on this machine only; the replicas are reached through
    # nginx only.
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"nginx": ["127.0.0.1:8080:8080"]}
    assert nginx_directives("listen") == ["8080"]
    assert services["nginx"]["volumes"] == ["./deploy/nginx.conf:/etc/nginx/nginx.conf:ro"]

    # PostgreSQL keeps its data in a named volume and reports health.
    volume, _, mount = services["postgres"]["volumes"][0].partition(":")
    assert mount == "/var/lib/postgresql/data"
    assert volume in compose()["volumes"]
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]


def test_startup_order_postgres_then_migrate_then_api_then_nginx(
    services: dict[str, Any],
) -> None:
    migrate, api, nginx = services["migrate"], services["api"], services["nginx"]

    assert command_of(migrate) == ["migrate"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"
    assert migrate["healthcheck"] == {"disable": True}  # it serves no HTTP

    assert api["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
    }
    assert api["deploy"]["replicas"] >= 2
    assert nginx["depends_on"] == {"api": {"condition": "service_healthy"}}


def test_the_published_address_and_port_change_only_when_asked() -> None:
    ports = compose({"PUBLISH_ADDRESS": "0.0.0.0", "PUBLISH_PORT": "80"})["services"]["nginx"]
    assert ports["ports"] == ["0.0.0.0:80:8080"]


def test_nginx_starts_once_the_api_is_ready(services: dict[str, Any]) -> None:
    """The api replicas' health is the image's HEALTHCHECK, which asks GET /readyz (database
    reachable, schema at head: tests/observability/test_readiness.py), and nginx waits for it;
    the migrate service, which serves nothing, has none."""
    assert "healthcheck" not in services["api"]  # the image's own, not replaced here
    _flags, check = healthcheck(dockerfile_stages()[-1])
    assert "http://127.0.0.1:8000/readyz" in " ".join(check)
    assert services["nginx"]["depends_on"]["api"] == {"condition": "service_healthy"}


def test_every_service_has_resource_limits_and_rotated_logs(services: dict[str, Any]) -> None:
    for name, service in services.items():
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0, name
        assert limits["memory"][-1] in "mg", name
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert logging["options"]["max-size"] == "10m", name
        assert int(logging["options"]["max-file"]) >= 2, name
    # A replica holds WEB_CONCURRENCY workers: its limit leaves each at least 128 MiB.
    api = services["api"]
    memory = api["deploy"]["resources"]["limits"]["memory"]
    assert int(memory[:-1]) * (1024 if memory.endswith("g") else 1) >= 128 * _workers(api)


def test_the_replicas_share_their_rate_limit_in_the_redis_service(
    services: dict[str, Any],
) -> None:
    storage = services["api"]["environment"]["RATE_LIMIT_STORAGE"]
    url = urlsplit(Settings(rate_limit_storage=storage).rate_limit_storage)

    assert (url.scheme, url.hostname) == ("redis", "redis")
    assert str(url.port) in services["redis"]["expose"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    # Counts that expire with their window: no persistence, bounded memory.
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "no"
    assert command[command.index("--maxmemory-policy") + 1] == "volatile-ttl"


def test_migrate_command_is_the_cli_command() -> None:
    result = runner.invoke(cli.cli, ["migrate", "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("service_name", APP_SERVICES)
def test_app_environment_names_only_real_settings(
    services: dict[str, Any], service_name: str, deployment: FirstRun
) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    environment = with_secrets(services[service_name], deployment.root)
    unknown = set(environment) - fields - set(DOCUMENTED_EXTRAS)
    assert not unknown, f"{service_name} sets variables the service never reads: {unknown}"

    # And every value is one Settings accepts (ranges, log level pattern, the secret files).
    known = {key.lower(): value for key, value in environment.items() if key in fields}
    Settings.model_validate(known)


def test_extra_variables_are_documented_in_the_operations_guide(services: dict[str, Any]) -> None:
    guide = OPERATIONS.read_text()
    used = set(service_environment(services["api"])) | set(service_environment(services["migrate"]))
    for name in used & set(DOCUMENTED_EXTRAS):
        assert f"`{name}`" in guide, f"docs/operations.md does not explain {name}"


def test_no_secret_travels_in_the_environment(services: dict[str, Any]) -> None:
    """Passwords and keys are files mounted from secrets/, named by *_FILE variables."""
    for name, service in services.items():
        for variable, value in service_environment(service).items():
            if any(word in variable for word in ("PASSWORD", "KEYS", "SECRET", "TOKEN")):
                assert variable.endswith("_FILE"), f"{name}: {variable} holds a secret itself"
                assert value.startswith(SECRETS_MOUNT), f"{name}: {variable}={value}"
            if variable == "DATABASE_URL":
                assert make_url(value).password is None, f"{name}: a password in DATABASE_URL"


def test_every_secret_is_a_file_the_first_run_makes(deployment: FirstRun) -> None:
    declared = compose()["secrets"]
    files = {Path(secret["file"]) for secret in declared.values()}
    assert all(path.parts[:2] == (".", "secrets") or path.parts[0] == "secrets" for path in files)
    for path in files:
        assert (deployment.root / path).is_file(), path
    # What the operator keeps (the key itself) is never mounted into a container.
    assert Path("secrets/write_key") not in files
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert "/secrets/" in ignored  # never committed


def test_database_url_points_at_the_postgres_service(
    services: dict[str, Any], deployment: FirstRun
) -> None:
    postgres = with_secrets(services["postgres"], deployment.root)
    password = Path(postgres["POSTGRES_PASSWORD_FILE"]).read_text().strip()
    assert len(password) == 64  # 32 random bytes, in hex
    for service_name in APP_SERVICES:
        environment = with_secrets(services[service_name], deployment.root)
        # PostgreSQL and the service read the same secret.
        assert environment["DATABASE_PASSWORD_FILE"] == postgres["POSTGRES_PASSWORD_FILE"]
        settings = Settings.model_validate(
            {key.lower(): value for key, value in environment.items() if key.startswith("DATA")}
        )
        url = database_url(settings.database_url)
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port) == ("postgres", 5432)
        assert url.username == postgres["POSTGRES_USER"]
        assert url.password == password
        assert url.database == postgres["POSTGRES_DB"]

    # pg_isready asks for the same role and database.
    check = services["postgres"]["healthcheck"]["test"]
    assert check[check.index("-U") + 1] == postgres["POSTGRES_USER"]
    assert check[check.index("-d") + 1] == postgres["POSTGRES_DB"]


def test_first_run_makes_the_secrets_and_a_write_key_and_says_where(tmp_path: Path) -> None:
    run = first_run(tmp_path)

    assert stat.S_IMODE(run.secrets.stat().st_mode) == 0o700  # other users stay out
    # Mounted into containers that read them as their own users; the key itself stays private.
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in run.secrets.iterdir()}
    assert modes == {"postgres_password": 0o644, "api_keys": 0o644, "write_key": 0o600}
    key = run.write_key()
    (entry,) = parse_api_keys((run.secrets / "api_keys").read_text())
    assert (entry.scope, entry.key_hash) == ("write", hashlib.sha256(key.encode()).hexdigest())
    assert f"{run.secrets}/write_key" in run.output

    # A second run keeps everything: no new password, no new key.
    before = {path.name: path.read_bytes() for path in run.secrets.iterdir()}
    again = first_run(tmp_path)
    assert {path.name: path.read_bytes() for path in run.secrets.iterdir()} == before
    assert "kept" in again.output


def _max_connections(postgres: dict[str, Any]) -> int:
    command = command_of(postgres)
    settings = [command[i + 1] for i, word in enumerate(command) if word == "-c"]
    values = dict(setting.split("=", 1) for setting in settings)
    return int(values["max_connections"])


def _workers(api: dict[str, Any]) -> int:
    command = command_of(api)
    if "--workers" in command:
        return int(command[command.index("--workers") + 1])
    environment = service_environment(api)
    if "WEB_CONCURRENCY" in environment:
        return int(environment["WEB_CONCURRENCY"])
    return int(dockerfile_stages()[-1].env()["WEB_CONCURRENCY"])


def test_connection_pools_fit_postgres_max_connections(services: dict[str, Any]) -> None:
    api = services["api"]
    environment = service_environment(api)
    defaults = Settings.model_fields
    pool = int(environment.get("DATABASE_POOL_SIZE", defaults["database_pool_size"].default))
    overflow = int(
        environment.get("DATABASE_MAX_OVERFLOW", defaults["database_max_overflow"].default)
    )
    replicas, workers = api["deploy"]["replicas"], _workers(api)
    max_connections = _max_connections(services["postgres"])
    per_replica = workers * (pool + overflow)
    available = max_connections - POSTGRES_SUPERUSER_RESERVED - HEADROOM

    assert replicas * per_replica <= available

    # The comment in docker-compose.yml states this arithmetic; it must not drift from it.
    text = COMPOSE_FILE.read_text()
    stated = (
        f"{replicas} replicas x {workers} workers x ({pool} + {overflow}) = "
        f"{replicas * per_replica}  <=  max_connections {max_connections} - "
        f"{POSTGRES_SUPERUSER_RESERVED} - {HEADROOM} = {available}"
    )
    assert stated in text
    most = available // per_replica
    assert f"up to {most} replicas ({most} x {per_replica} = {most * per_replica})" in text


def test_api_command_uses_only_options_serve_has(services: dict[str, Any]) -> None:
    command = command_of(services["api"])
    assert command[0] == "serve"
    help_text = runner.invoke(cli.cli, ["serve", "--help"], terminal_width=200).output
    for option in (word for word in command if word.startswith("--")):
        assert option in help_text, f"`entropy-budget serve` has no {option}"


def test_api_command_runs_uvicorn_as_the_replicas_need(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch, deployment: FirstRun
) -> None:
    """The compose command and environment, through the real CLI, up to uvicorn.run: on
    0.0.0.0 without ENTROPY_BUDGET_ALLOW_OPEN, since the secret file configures a key."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    api = services["api"]
    environment = with_secrets(api, deployment.root)
    assert "ENTROPY_BUDGET_ALLOW_OPEN" not in environment
    result = runner.invoke(cli.cli, command_of(api), env=environment)

    assert result.exit_code == 0, result.output
    assert "open" not in result.output  # no warning that the service runs open
    (call,) = calls
    upstream_port = int(nginx_upstreams()["api"][0].split()[0].rpartition(":")[2])
    assert call["host"] == "0.0.0.0"
    assert call["port"] == upstream_port == int(api["expose"][0])
    assert call["workers"] == _workers(api)


def test_without_a_key_the_api_refuses_to_serve(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty api_keys secret (and no keys table to fall back on) is no open service."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    (tmp_path / "secrets").mkdir()
    for name in ("api_keys", "postgres_password"):
        (tmp_path / "secrets" / name).write_text("\n")
    api = services["api"]
    environment: dict[str, str | None] = {
        **with_secrets(api, tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/keys-table.db",
        "DATABASE_PASSWORD_FILE": None,
    }
    result = runner.invoke(cli.cli, command_of(api), env=environment)

    assert result.exit_code == cli.EXIT_REFUSES_OPEN
    assert "refusing to serve on 0.0.0.0: no API key is configured" in result.output
    assert calls == []


def test_nginx_upstream_is_the_api_service(services: dict[str, Any]) -> None:
    (server,) = nginx_upstreams()["api"]
    address, *flags = server.split()
    host, _, port = address.rpartition(":")
    assert host == "api"  # the compose service name, resolved by Docker's DNS
    assert "api" in services
    serve_port = command_of(services["api"])[command_of(services["api"]).index("--port") + 1]
    assert port == serve_port
    assert "resolve" in flags  # re-resolved, so scaling needs no reload
