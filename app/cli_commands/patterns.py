"""`entropy-budget patterns list|quarantine|validate`."""

from functools import partial
from typing import Annotated

import typer

from app.cli_commands.common import (
    JsonOption,
    Paging,
    export_history,
    handles_api_errors,
    open_client,
    paged_command,
    show_record,
)
from app.patterns.rules import QuarantineStatus
from app.patterns.schemas import PatternStatusUpdate

app = typer.Typer(help="Patterns: list them, quarantine or validate one.")

PatternIdArgument = Annotated[str, typer.Argument(help="The pattern's id.")]

LIST_COLUMNS = (
    ("id", "id"),
    ("name", "pattern_name"),
    ("status", "quarantine_status"),
    ("applied", "application_count"),
    ("succeeded", "success_count"),
    ("reason", "quarantine_reason"),
)


@paged_command(app, "list")
def list_patterns(
    ctx: typer.Context,
    status: Annotated[
        QuarantineStatus | None,
        typer.Option(help="Only patterns in this status."),
    ] = None,
    *,
    paging: Paging,
) -> None:
    """Patterns, most recently seen first."""
    with open_client(ctx) as client:
        export_history(
            "Patterns",
            partial(client.list_patterns, quarantine_status=status),
            paging,
            LIST_COLUMNS,
        )


def _set_status(
    ctx: typer.Context,
    pattern_id: str,
    status: QuarantineStatus,
    reason: str | None,
    *,
    as_json: bool,
) -> None:
    body = PatternStatusUpdate(quarantine_status=status, quarantine_reason=reason)
    with open_client(ctx) as client:
        pattern = client.update_pattern_status(pattern_id, body)
    title = f"Pattern {pattern.id} is now {pattern.quarantine_status}"
    show_record(title, pattern, as_json=as_json)


@app.command("quarantine")
@handles_api_errors
def quarantine(
    ctx: typer.Context,
    pattern_id: PatternIdArgument,
    reason: Annotated[str, typer.Option(help="Why it is quarantined (kept on the pattern).")],
    as_json: JsonOption = False,
) -> None:
    """Quarantine a pattern: it is no longer picked until revalidated."""
    _set_status(ctx, pattern_id, "quarantined", reason, as_json=as_json)


@app.command("validate")
@handles_api_errors
def validate(
    ctx: typer.Context,
    pattern_id: PatternIdArgument,
    reason: Annotated[str | None, typer.Option(help="Why it is validated.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Mark a pattern validated (clears its quarantine reason unless --reason is given)."""
    _set_status(ctx, pattern_id, "validated", reason, as_json=as_json)
