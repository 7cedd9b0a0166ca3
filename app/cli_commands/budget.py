"""`entropy-budget budget show|history|stats`."""

from functools import partial

import typer

from app.cli_commands.alerts import alerts_table
from app.cli_commands.common import (
    JobOption,
    JsonOption,
    Paging,
    dump,
    export_history,
    handles_api_errors,
    open_client,
    paged_command,
    print_json,
    record_table,
    show_record,
    stdout,
)

app = typer.Typer(help="Exploration budgets: current value, history, statistics.")

HISTORY_COLUMNS = (
    ("recorded_at", "recorded_at"),
    ("job", "job_hash"),
    ("budget", "budget_value"),
    ("entropy", "entropy_at_time"),
    ("type", "adjustment_type"),
    ("reason", "adjustment_reason"),
)


@app.command("show")
@handles_api_errors
def show(ctx: typer.Context, job_hash: JobOption = "", as_json: JsonOption = False) -> None:
    """The current budget of a job (or the latest record of any job)."""
    with open_client(ctx) as client:
        record = client.get_budget(job_hash)
    show_record(f"Budget of {record.job_hash}", record, as_json=as_json)


@paged_command(app, "history", windowed=True)
def history(ctx: typer.Context, job_hash: JobOption = "", *, paging: Paging) -> None:
    """Budget records, newest first."""
    with open_client(ctx) as client:
        export_history(
            "Budget history",
            partial(client.budget_history, job_hash),
            paging,
            HISTORY_COLUMNS,
            expected_total=lambda: client.budget_statistics(job_hash).total_adjustments,
        )


@app.command("stats")
@handles_api_errors
def stats(ctx: typer.Context, job_hash: JobOption = "", as_json: JsonOption = False) -> None:
    """Budget statistics, and the alert rules that fire for them (GET /v1/alerts)."""
    with open_client(ctx) as client:
        statistics = client.budget_statistics(job_hash)
        report = client.alerts(job_hash)
    if as_json:
        print_json({"statistics": dump(statistics), "alerts": dump(report)})
        return
    console = stdout()
    console.print(record_table(f"Budget statistics: {job_hash or 'every job'}", statistics))
    firing = [alert for alert in report.alerts if alert.firing]
    if firing:
        console.print(alerts_table(f"{len(firing)} alert(s) firing", firing))
    else:
        console.print("No alerts firing.")
