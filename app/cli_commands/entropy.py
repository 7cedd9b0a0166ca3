"""`entropy-budget entropy show|history|snapshot`: pattern diversity."""

from typing import Annotated

import typer

from app.cli_commands.common import (
    JobOption,
    JsonOption,
    Paging,
    export_history,
    handles_api_errors,
    open_client,
    paged_command,
    show_record,
)
from app.diversity.schemas import Scope

app = typer.Typer(help="Pattern diversity: current metrics, snapshots and their history.")

AlertThresholdOption = Annotated[
    float | None,
    typer.Option(help="Flag `threshold_exceeded` when the diversity index is below it (0..1)."),
]

HISTORY_COLUMNS = (
    ("calculated_at", "calculated_at"),
    ("diversity", "diversity_index"),
    ("bits", "shannon_entropy"),
    ("patterns", "unique_pattern_count"),
    ("applications", "total_applications"),
    ("dominant", "dominant_pattern_share"),
    ("alert", "threshold_exceeded"),
)


HalfLifeOption = Annotated[
    int | None,
    typer.Option(
        "--half-life",
        help="Decay the applications with this registered half-life (seconds); absent: "
        "all-time counts.",
    ),
]


def describe_scope(scope: Scope) -> str:
    """A scope in words: whose applications, and how they are weighed."""
    whose = "every job" if scope.job_hash is None else f"job {scope.job_hash}"
    weighed = (
        "all-time" if scope.half_life_seconds is None else f"half-life {scope.half_life_seconds} s"
    )
    return f"{whose}, {weighed}"


@app.command("show")
@handles_api_errors
def show(
    ctx: typer.Context,
    job_hash: JobOption = "",
    half_life: HalfLifeOption = None,
    alert_threshold: AlertThresholdOption = None,
    as_json: JsonOption = False,
) -> None:
    """The current pattern diversity of a scope (nothing is recorded): a job's applications
    or every job's, all-time or decayed with a half-life."""
    with open_client(ctx) as client:
        metrics = client.pattern_entropy(
            alert_threshold, job_hash=job_hash, half_life_seconds=half_life
        )
    fields = [name for name in type(metrics).model_fields if name != "scope"]
    title = f"Pattern diversity: {describe_scope(metrics.scope)}"
    show_record(title, metrics, as_json=as_json, fields=fields)


@app.command("snapshot")
@handles_api_errors
def snapshot(
    ctx: typer.Context, alert_threshold: AlertThresholdOption = None, as_json: JsonOption = False
) -> None:
    """Measure the diversity now and record it as a snapshot."""
    with open_client(ctx) as client:
        recorded = client.record_entropy_snapshot(alert_threshold)
    show_record(f"Snapshot {recorded.id}", recorded, as_json=as_json)


@paged_command(app, "history", windowed=True)
def history(ctx: typer.Context, *, paging: Paging) -> None:
    """Diversity snapshots, newest first."""
    with open_client(ctx) as client:
        export_history("Diversity snapshots", client.entropy_history, paging, HISTORY_COLUMNS)
