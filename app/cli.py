"""`entropy-budget`: run the service, manage its schema, and talk to a running server.

`serve` and `migrate` act on this machine; the command groups mounted below (`budget`,
`entropy`, `responses`, `patterns`, `alerts`) are HTTP clients of a running server
(`--url`, `--api-key`), built on `app.client`.
"""

from typing import Annotated

import typer
import uvicorn
from alembic import command

from app.cli_commands import alerts, budget, entropy, patterns, responses
from app.cli_commands.common import Connection
from app.client import DEFAULT_TIMEOUT_SECONDS, DEFAULT_URL
from app.core.migrations import MIGRATION_ROOTS, alembic_config, migrations_root
from app.core.settings import Settings
from app.observability.logs import logging_config
from app.observability.multiproc import metrics_directory

__all__ = ["MIGRATION_ROOTS", "alembic_config", "cli", "main", "migrations_root"]

cli = typer.Typer(help="entropy-budget: exploration budgets over HTTP.", no_args_is_help=True)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@cli.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the database schema (creates the SQLite file when needed)."""
    command.upgrade(alembic_config(), revision)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, envvar="WEB_CONCURRENCY", help="Worker processes.")
    ] = 1,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Upgrade the schema before serving.")
    ] = False,
) -> None:
    """Serve the HTTP API with uvicorn.

    Logs are JSON lines on stderr (LOG_FORMAT=console for humans), uvicorn's included; the
    access log is the service's own (with request ids). The workers share one
    PROMETHEUS_MULTIPROC_DIR (a private one when it is not set), so /metrics adds them up."""
    settings = Settings()
    if migrate_first:
        command.upgrade(alembic_config(settings), "head")
    with metrics_directory():
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            log_config=logging_config(settings.log_level, settings.log_format),
            access_log=False,
        )


@cli.callback()
def connect(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Option(
            envvar="ENTROPY_BUDGET_URL", help="Base URL of the server the client commands call."
        ),
    ] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="ENTROPY_BUDGET_API_KEY",
            help="Sent as `Authorization: Bearer <key>`.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for each answer.")
    ] = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Exploration budgets over HTTP: run the service, or query and steer a running one."""
    ctx.obj = Connection(url=url, api_key=api_key or None, timeout=timeout)


cli.add_typer(budget.app, name="budget", no_args_is_help=True)
cli.add_typer(entropy.app, name="entropy", no_args_is_help=True)
cli.add_typer(responses.app, name="responses", no_args_is_help=True)
cli.add_typer(patterns.app, name="patterns", no_args_is_help=True)
cli.command("alerts")(alerts.alerts)


def main() -> None:
    cli()
