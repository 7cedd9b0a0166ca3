"""docker-compose.yml against the app: settings, database URL, CLI, pool arithmetic, nginx."""

import json
from typing import Any

import pytest
from compose_spec import PyCompose
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from app import cli
from app.core.db import database_url
from app.core.settings import Settings
from tests.deploy.files import (
    COMPOSE_FILE,
    README,
    MissingVariableError,
    command_of,
    compose,
    dockerfile_stages,
    nginx_directives,
    nginx_upstreams,
    service_environment,
)

APP_SERVICES = ("migrate", "api")

DOCUMENTED_EXTRAS = {
    "WEB_CONCURRENCY": "`entropy-budget serve --workers` (read by the CLI, not by Settings)",
    "FORWARDED_ALLOW_IPS": "uvicorn: whose X-Forwarded-* headers to trust",
    "ENTROPY_BUDGET_ALLOW_OPEN": "serving without API keys on a non-loopback address",
}
"""Variables the app services set that are not Settings fields; each must be in the README."""

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


def test_the_four_services_and_their_wiring(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "migrate", "api", "nginx"}
    assert services["postgres"]["image"] == "postgres:15"
    assert services["nginx"]["image"] == "nginx:1.27-alpine"

    # migrate and api run the one image built from this repository's Dockerfile.
    assert services["migrate"]["image"] == services["api"]["image"]
    assert services["migrate"]["build"] == services["api"]["build"] == "."

    # One published port, nginx's 8080; the replicas are reached through nginx only.
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"nginx": ["8080:8080"]}
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

    assert api["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert api["deploy"]["replicas"] >= 2
    assert nginx["depends_on"] == {"api": {"condition": "service_healthy"}}


def test_migrate_command_is_the_cli_command() -> None:
    result = runner.invoke(cli.cli, ["migrate", "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("service_name", APP_SERVICES)
def test_app_environment_names_only_real_settings(
    services: dict[str, Any], service_name: str
) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    environment = service_environment(services[service_name])
    unknown = set(environment) - fields - set(DOCUMENTED_EXTRAS)
    assert not unknown, f"{service_name} sets variables the service never reads: {unknown}"

    # And every value is one Settings accepts (ranges, log level pattern).
    known = {key.lower(): value for key, value in environment.items() if key in fields}
    Settings.model_validate(known)


def test_extra_variables_are_documented_in_the_readme(services: dict[str, Any]) -> None:
    deployment = README.read_text().partition("## Deployment")[2]
    assert deployment, "README has no Deployment section"
    used = set(service_environment(services["api"])) | set(service_environment(services["migrate"]))
    for name in used & set(DOCUMENTED_EXTRAS):
        assert f"`{name}`" in deployment, f"README's Deployment section does not explain {name}"


def test_database_url_points_at_the_postgres_service(services: dict[str, Any]) -> None:
    postgres = service_environment(services["postgres"])
    assert postgres["POSTGRES_PASSWORD"] == "s3cret-test"  # the value given to compose()
    for service_name in APP_SERVICES:
        raw = service_environment(services[service_name])["DATABASE_URL"]
        url = database_url(raw)
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port) == ("postgres", 5432)
        assert url.username == postgres["POSTGRES_USER"]
        assert url.password == postgres["POSTGRES_PASSWORD"]
        assert url.database == postgres["POSTGRES_DB"]
        assert make_url(raw).render_as_string(hide_password=False) == raw  # nothing lost

    # pg_isready asks for the same role and database.
    check = services["postgres"]["healthcheck"]["test"]
    assert check[check.index("-U") + 1] == postgres["POSTGRES_USER"]
    assert check[check.index("-d") + 1] == postgres["POSTGRES_DB"]


def test_the_password_has_no_default() -> None:
    with pytest.raises(MissingVariableError, match="POSTGRES_PASSWORD"):
        compose({})
    with pytest.raises(MissingVariableError, match="POSTGRES_PASSWORD"):
        compose({"POSTGRES_PASSWORD": ""})


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
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose command and environment, through the real CLI, up to uvicorn.run."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    api = services["api"]
    result = runner.invoke(cli.cli, command_of(api), env=service_environment(api))

    assert result.exit_code == 0, result.output
    (call,) = calls
    upstream_port = int(nginx_upstreams()["api"][0].split()[0].rpartition(":")[2])
    assert call["host"] == "0.0.0.0"
    assert call["port"] == upstream_port == int(api["expose"][0])
    assert call["workers"] == _workers(api)


def test_nginx_upstream_is_the_api_service(services: dict[str, Any]) -> None:
    (server,) = nginx_upstreams()["api"]
    address, *flags = server.split()
    host, _, port = address.rpartition(":")
    assert host == "api"  # the compose service name, resolved by Docker's DNS
    assert "api" in services
    serve_port = command_of(services["api"])[command_of(services["api"]).index("--port") + 1]
    assert port == serve_port
    assert "resolve" in flags  # re-resolved, so scaling needs no reload
