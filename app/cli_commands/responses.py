"""`entropy-budget responses check|trigger|history|stats`: entropy responses."""

from functools import partial
from typing import Annotated, Any

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
from app.responses.schemas import ResponseConfig, TriggerContext, TriggerRequest

app = typer.Typer(help="Entropy responses: check the need, trigger one, history, statistics.")

RequiredJobOption = Annotated[str, typer.Option("--job", "-j", help="The job_hash.")]

HISTORY_COLUMNS = (
    ("recorded_at", "recorded_at"),
    ("job", "job_hash"),
    ("entropy", "entropy_at_trigger"),
    ("threshold", "threshold_used"),
    ("actions", "actions_taken"),
    ("revisited", "patterns_revisited"),
)


@app.command("check")
@handles_api_errors
def check(
    ctx: typer.Context,
    job_hash: RequiredJobOption,
    threshold: Annotated[
        float | None, typer.Option(help="Diversity below this needs a response (default 0.3).")
    ] = None,
    cooldown: Annotated[
        int | None, typer.Option(help="Seconds between two responses (default 3600).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Does the job need an entropy response now?"""
    with open_client(ctx) as client:
        result = client.check_response(
            job_hash, entropy_threshold=threshold, cooldown_seconds=cooldown
        )
    show_record(f"Entropy response check: {job_hash}", result, as_json=as_json)


@app.command("trigger")
@handles_api_errors
def trigger(
    ctx: typer.Context,
    job_hash: RequiredJobOption,
    entropy: Annotated[float, typer.Option(help="The diversity that triggered the response.")],
    threshold: Annotated[float, typer.Option(help="The threshold it fell below.")] = 0.3,
    boost_budget: Annotated[
        bool, typer.Option("--boost/--no-boost", help="Boost the job's budget.")
    ] = True,
    revisit_quarantine: Annotated[
        bool,
        typer.Option("--revisit/--no-revisit", help="Send quarantined patterns back to pending."),
    ] = True,
    max_revisits: Annotated[
        int | None, typer.Option(help="At most this many patterns revisited (default 3).")
    ] = None,
    boost_amount: Annotated[float | None, typer.Option(help="Budget boost (default 0.10).")] = None,
    floor: Annotated[float | None, typer.Option(help="Budget floor (default 0.05).")] = None,
    ceiling: Annotated[float | None, typer.Option(help="Budget ceiling (default 0.50).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Trigger an entropy response now (it does not consult the cooldown: `check` does)."""
    given: dict[str, Any] = {
        "boost_budget": boost_budget,
        "revisit_quarantine": revisit_quarantine,
        "max_quarantine_revisits": max_revisits,
        "budget_boost_amount": boost_amount,
        "budget_floor": floor,
        "budget_ceiling": ceiling,
    }
    body = TriggerRequest(
        trigger=TriggerContext(
            job_hash=job_hash, entropy_at_trigger=entropy, threshold_used=threshold
        ),
        config=ResponseConfig(
            **{name: value for name, value in given.items() if value is not None}
        ),
    )
    with open_client(ctx) as client:
        record = client.trigger_response(body)
    show_record(f"Entropy response {record.id}", record, as_json=as_json)


@paged_command(app, "history", windowed=True)
def history(ctx: typer.Context, job_hash: JobOption = "", *, paging: Paging) -> None:
    """Entropy responses, newest first."""
    with open_client(ctx) as client:
        export_history(
            "Entropy responses",
            partial(client.response_history, job_hash),
            paging,
            HISTORY_COLUMNS,
            expected_total=lambda: client.response_statistics(job_hash).total_responses,
        )


@app.command("stats")
@handles_api_errors
def stats(ctx: typer.Context, job_hash: JobOption = "", as_json: JsonOption = False) -> None:
    """Entropy response statistics."""
    with open_client(ctx) as client:
        statistics = client.response_statistics(job_hash)
    show_record(
        f"Entropy response statistics: {job_hash or 'every job'}", statistics, as_json=as_json
    )
