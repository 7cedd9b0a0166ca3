"""`entropy-budget budget show|history|stats`."""

import typer

from app.cli_commands.alerts import alerts_table
from app.cli_commands.common import (
    DEFAULT_PAGE_SIZE,
    AllOption,
    CursorOption,
    ForceOption,
    JobOption,
    JsonOption,
    LimitOption,
    OutputOption,
    PageSizeOption,
    Paging,
    ProgressOption,
    SinceOption,
    UntilOption,
    as_utc,
    check_paging,
    dump,
    export_history,
    handles_api_errors,
    open_client,
    print_json,
    record_table,
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
    if as_json:
        print_json(dump(record))
        return
    stdout().print(record_table(f"Budget of {record.job_hash}", record))


@app.command("history")
@handles_api_errors
def history(
    ctx: typer.Context,
    job_hash: JobOption = "",
    limit: LimitOption = None,
    everything: AllOption = False,
    since: SinceOption = None,
    until: UntilOption = None,
    cursor: CursorOption = None,
    page_size: PageSizeOption = DEFAULT_PAGE_SIZE,
    output: OutputOption = None,
    force: ForceOption = False,
    progress: ProgressOption = None,
    as_json: JsonOption = False,
) -> None:
    """Budget records, newest first."""
    check_paging(limit, everything)
    window = {"since": as_utc(since), "until": as_utc(until)}
    with open_client(ctx) as client:

        def total() -> int | None:
            if since or until:
                return None
            return client.budget_statistics(job_hash).total_adjustments

        export_history(
            "Budget history",
            lambda size, after: client.budget_history(job_hash, limit=size, cursor=after, **window),
            Paging(limit, everything, page_size, cursor, output, progress, as_json, force),
            HISTORY_COLUMNS,
            expected_total=total,
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
