"""`entropy-budget alerts`: the dashboard's alert rules, evaluated by the server."""

from collections.abc import Sequence

import typer
from rich.table import Table
from rich.text import Text

from app.alerts.schemas import AlertState
from app.cli_commands.common import (
    JobOption,
    JsonOption,
    dump,
    fmt,
    handles_api_errors,
    open_client,
    print_json,
    stdout,
)


def alerts_table(title: str, alerts: Sequence[AlertState]) -> Table:
    table = Table(title=Text(title), title_justify="left")
    for header in ("rule", "state", "value", "limit"):
        table.add_column(header, no_wrap=True)
    table.add_column("message", overflow="fold")
    for alert in alerts:
        state = Text("FIRING", style="bold red") if alert.firing else Text("ok", style="green")
        table.add_row(alert.rule, state, fmt(alert.value), fmt(alert.limit), Text(alert.message))
    return table


@handles_api_errors
def alerts(ctx: typer.Context, job_hash: JobOption = "", as_json: JsonOption = False) -> None:
    """Evaluate the alert rules (the same ones as the dashboard: GET /v1/alerts)."""
    with open_client(ctx) as client:
        report = client.alerts(job_hash)
    if as_json:
        print_json(dump(report))
        return
    scope = report.job_hash or "every job"
    stdout().print(alerts_table(f"Alerts for {scope}: {report.firing} firing", report.alerts))
