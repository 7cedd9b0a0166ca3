"""`entropy-budget keys create|list|revoke|generate`: the API keys of the keys table.

Unlike the other command groups these act on the database of this machine's settings
(`DATABASE_URL`, like `migrate`), not over HTTP. A running server sees a change within its key
cache period (`API_KEYS_CACHE_SECONDS`, 5 s by default).

Exit codes: 0 done; 1 refused (a name already taken, an unknown or already revoked key); 2 the
database could not be reached or is not migrated (run `entropy-budget migrate`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from app.cli_commands.common import fmt, local_session, print_json, stdout
from app.core import api_keys
from app.core.clock import utc_now
from app.core.settings import KeyScope
from app.models import ApiKey

EXIT_REFUSED = 1

app = typer.Typer(
    help="API keys of the keys table (on this machine's DATABASE_URL): create, list, revoke."
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def _session() -> Iterator[Session]:
    """`local_session`, where a refusal of the keys' rules is a message and exit 1."""
    try:
        with local_session("use the keys table") as session:
            yield session
    except api_keys.KeyManagementError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None


def _as_json(record: ApiKey) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "scope": record.scope,
        "prefix": record.prefix,
        "created_at": _time(record.created_at),
        "revoked_at": _time(record.revoked_at),
        "last_used_at": _time(record.last_used_at),
    }


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@app.command()
def create(
    name: Annotated[str, typer.Option(help="A unique name: who or what uses the key.")],
    scope: Annotated[KeyScope, typer.Option(help="read, or write (which implies read).")],
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it, once: only its SHA-256 is stored."""
    with _session() as session:
        created = api_keys.create_key(session, name=name, scope=scope, now=utc_now())
        record = _as_json(created.record)
    if as_json:
        print_json({**record, "key": created.key})
        return
    typer.echo(f"Created the {scope} key {name!r} (id {record['id']}).")
    typer.echo("The key, shown this once (store it now; it cannot be shown again):")
    typer.echo(created.key)


@app.command("list")
def list_keys(
    include_revoked: Annotated[
        bool, typer.Option("--all/--active", help="Also list revoked keys (default), or not.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """The keys: name, id, scope, prefix, created, last used (approximate), revoked."""
    with _session() as session:
        records = [
            _as_json(r) for r in api_keys.list_keys(session, include_revoked=include_revoked)
        ]
    if as_json:
        print_json({"items": records})
        return
    table = Table(title=f"API keys ({len(records)})")
    for title in ("name", "id", "scope", "prefix", "created", "last used", "revoked"):
        table.add_column(title)
    for record in records:
        texts = [record[key] for key in ("name", "id", "scope", "prefix")]
        times = [_short_time(record[key]) for key in ("created_at", "last_used_at", "revoked_at")]
        table.add_row(*texts, *times)
    stdout().print(table)


def _short_time(value: str | None) -> str:
    return fmt(None) if value is None else value[:19] + "Z"


@app.command()
def revoke(
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="The key's name or id.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a key: servers refuse it within their key cache period (5 s by default)."""
    with _session() as session:
        record = _as_json(api_keys.revoke_key(session, name_or_id, now=utc_now()))
    if as_json:
        print_json(record)
        return
    typer.echo(f"Revoked the {record['scope']} key {record['name']!r} (id {record['id']}).")


@app.command()
def generate(
    scope: Annotated[KeyScope, typer.Option(help="read, or write (which implies read).")],
) -> None:
    """Make a key for the API_KEYS setting (nothing is stored): prints the key and the
    `<scope>:<sha256>` entry to put in API_KEYS."""
    key = api_keys.generate_key()
    typer.echo(f"key (give it to the client, once): {key}")
    typer.echo(f"API_KEYS entry (for the server):   {scope}:{api_keys.hash_key(key)}")
