"""`entropy-budget`: run the service, manage its schema, and talk to a running server.

`serve`, `migrate`, `prune`, `keys` and `diversity` act on this machine; the command groups
mounted below (`budget`, `entropy`, `responses`, `patterns`, `alerts`, `webhooks`) are HTTP
clients of a running server (`--url`, `--api-key`), built on `app.client`.
"""

import ipaddress
from typing import Annotated

import structlog
import typer
import uvicorn
from alembic import command
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.cli_commands import (
    alerts,
    budget,
    diversity,
    entropy,
    keys,
    patterns,
    responses,
    webhooks,
)
from app.cli_commands.common import Connection, local_database, settings_or_exit
from app.client import DEFAULT_TIMEOUT_SECONDS, DEFAULT_URL
from app.core import api_keys
from app.core.clock import utc_now
from app.core.db import Database, create_db_engine
from app.core.migrations import alembic_config, migrations_root
from app.core.settings import Settings
from app.observability.logs import configure_logging_unless_configured, logging_config
from app.observability.multiproc import metrics_directory
from app.retention import rules as retention_rules
from app.retention import service as retention

__all__ = ["alembic_config", "cli", "main", "migrations_root"]

cli = typer.Typer(help="entropy-budget: exploration budgets over HTTP.", no_args_is_help=True)

EXIT_REFUSES_OPEN = 1
WORKER_HEALTHCHECK_SECONDS = 60
"""How long uvicorn's supervisor waits for a worker to answer its ping before killing it as
hung. uvicorn's 5 s killed workers still importing the app on a loaded machine."""


@cli.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the database schema (creates the SQLite file when needed)."""
    command.upgrade(alembic_config(settings_or_exit()), revision)


@cli.command()
def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what a pass would remove.")
    ] = False,
) -> None:
    """Run one retention pass now, with the service's settings (RETENTION_DAYS and its
    per-history overrides, DATABASE_URL), and print what it removed from each history."""
    settings = settings_or_exit()
    if not retention_rules.any_retention(settings):
        typer.echo("No retention is set (RETENTION_DAYS, RETENTION_DAYS_*): everything is kept.")
        return
    with local_database(settings, "prune") as database:
        report = retention.prune(database, settings, utc_now, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    kept = {pruned.table for pruned in report}
    for pruned in report:
        typer.echo(
            f"{pruned.table}: {verb} {pruned.rows} rows older than "
            f"{pruned.cutoff.isoformat(timespec='seconds')}"
        )
    for table in retention_rules.OVERRIDES:
        if table not in kept:
            typer.echo(f"{table}: kept forever")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: only this machine can connect."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


def service_urls(host: str, port: int) -> dict[str, str]:
    """Where a person on this machine finds the API, its docs and the dashboard (an address
    bound on every interface is reached through loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    return {"api": base, "docs": f"{base}/docs", "dashboard": f"{base}/dashboard"}


def keys_configured(settings: Settings) -> bool:
    """Keys in API_KEYS, or a key not revoked in the keys table (read once, now)."""
    if settings.configured_keys:
        return True
    database = Database(create_db_engine(settings, pooled=False))
    try:
        with database.session(write=False) as session:
            return bool(api_keys.active_keys(session))
    except (DBAPIError, PoolTimeoutError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        typer.echo(f"Warning: cannot read the keys table ({reason}).", err=True)
        return False
    finally:
        database.dispose()


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
    allow_open: Annotated[
        bool,
        typer.Option(
            "--allow-open",
            envvar="ENTROPY_BUDGET_ALLOW_OPEN",
            help="Serve a non-loopback address even with no API key configured (anyone who "
            "reaches it can read and write).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API with uvicorn.

    With no API key configured (none in API_KEYS, none active in the keys table) the service
    runs open, so it refuses to bind an address other than loopback unless --allow-open.
    Logs go to stderr, uvicorn's included: coloured lines at a terminal, JSON lines otherwise
    (LOG_FORMAT=auto|console|json); the first names the URLs of the API, /docs and /dashboard.
    The access log is the service's own (with request ids). The workers share one
    PROMETHEUS_MULTIPROC_DIR (a private one when it is not set), so /metrics adds them up."""
    settings = settings_or_exit()
    if migrate_first:
        command.upgrade(alembic_config(settings), "head")
    if not is_loopback(host) and not keys_configured(settings):
        if not allow_open:
            typer.echo(
                f"Error: refusing to serve on {host}: no API key is configured, so anyone who "
                "can reach this address could read and write. Configure keys (API_KEYS, or "
                "`entropy-budget keys create`), bind 127.0.0.1, or pass --allow-open "
                "(ENTROPY_BUDGET_ALLOW_OPEN=true) to run open on purpose.",
                err=True,
            )
            raise typer.Exit(EXIT_REFUSES_OPEN)
        typer.echo(
            f"Warning: serving on {host} with no API key configured: the service is open.",
            err=True,
        )
    configure_logging_unless_configured(settings.log_level, settings.log_format)
    structlog.stdlib.get_logger("app.serve").info(
        "entropy-budget serving", **service_urls(host, port), workers=workers
    )
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
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
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
cli.add_typer(keys.app, name="keys", no_args_is_help=True)
cli.add_typer(webhooks.app, name="webhooks", no_args_is_help=True)
cli.add_typer(diversity.app, name="diversity", no_args_is_help=True)


def main() -> None:
    cli()
