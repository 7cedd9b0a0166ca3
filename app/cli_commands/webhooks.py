"""`entropy-budget webhooks create|list|attempts|retry|ping`."""

from typing import Annotated, get_args

import typer

from app.cli_commands.common import (
    DEFAULT_PAGE_SIZE,
    AllOption,
    CursorOption,
    JsonOption,
    LimitOption,
    OutputOption,
    PageSizeOption,
    Paging,
    ProgressOption,
    check_paging,
    dump,
    export_history,
    handles_api_errors,
    open_client,
    print_json,
    record_table,
    stderr,
    stdout,
)
from app.webhooks.rules import DeliveryStatus, EventType
from app.webhooks.schemas import AttemptRecord, EndpointCreate

app = typer.Typer(help="Webhook endpoints: create them, list them, follow and redo deliveries.")

ALL_EVENTS = ", ".join(get_args(EventType))
WebhookIdArgument = Annotated[str, typer.Argument(help="The webhook endpoint's id.")]

LIST_COLUMNS = (
    ("id", "id"),
    ("url", "url"),
    ("events", "events"),
    ("enabled", "enabled"),
    ("disabled because", "disabled_reason"),
)
ATTEMPT_COLUMNS = (
    ("message", "message_id"),
    ("event", "event_type"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("last status", "last_status_code"),
    ("last attempt", "last_attempt_at"),
    ("next attempt", "next_attempt_at"),
    ("last error", "last_error"),
)


@app.command("create")
@handles_api_errors
def create(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where the events are POSTed (https).")],
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            "-e",
            help=f"An event type to receive (repeat it); default all: {ALL_EVENTS}.",
        ),
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the endpoint is for.")] = None,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Create it disabled (nothing is sent yet).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create an endpoint and print its signing secret, which is never shown again."""
    body = EndpointCreate.model_validate(
        {
            "url": url,
            "events": events or list(get_args(EventType)),
            "description": description,
            "enabled": not disabled,
        }
    )
    with open_client(ctx) as client:
        endpoint = client.create_webhook(body)
    if as_json:
        print_json(dump(endpoint))
        return
    stdout().print(record_table(f"Webhook endpoint {endpoint.id}", endpoint))
    stderr().print("Keep the secret now: it is not shown again.", markup=False)


@app.command("list")
@handles_api_errors
def list_webhooks(
    ctx: typer.Context,
    limit: LimitOption = None,
    everything: AllOption = False,
    cursor: CursorOption = None,
    page_size: PageSizeOption = DEFAULT_PAGE_SIZE,
    output: OutputOption = None,
    progress: ProgressOption = None,
    as_json: JsonOption = False,
) -> None:
    """Webhook endpoints, newest first (never their secrets)."""
    check_paging(limit, everything)
    with open_client(ctx) as client:
        export_history(
            "Webhook endpoints",
            lambda size, after: client.list_webhooks(limit=size, cursor=after),
            Paging(limit, everything, page_size, cursor, output, progress, as_json),
            LIST_COLUMNS,
        )


@app.command("attempts")
@handles_api_errors
def attempts(
    ctx: typer.Context,
    webhook_id: WebhookIdArgument,
    status: Annotated[
        DeliveryStatus | None, typer.Option(help="Only messages in this delivery status.")
    ] = None,
    limit: LimitOption = None,
    everything: AllOption = False,
    cursor: CursorOption = None,
    page_size: PageSizeOption = DEFAULT_PAGE_SIZE,
    output: OutputOption = None,
    progress: ProgressOption = None,
    as_json: JsonOption = False,
) -> None:
    """An endpoint's messages and how their delivery went, newest first."""
    check_paging(limit, everything)
    with open_client(ctx) as client:
        export_history(
            f"Messages to webhook endpoint {webhook_id}",
            lambda size, after: client.webhook_attempts(
                webhook_id, status=status, limit=size, cursor=after
            ),
            Paging(limit, everything, page_size, cursor, output, progress, as_json),
            ATTEMPT_COLUMNS,
        )


def _print_attempt(title: str, attempt: AttemptRecord, *, as_json: bool) -> None:
    if as_json:
        print_json(dump(attempt))
        return
    stdout().print(record_table(title, attempt))


@app.command("retry")
@handles_api_errors
def retry(
    ctx: typer.Context,
    webhook_id: WebhookIdArgument,
    message_id: Annotated[str, typer.Argument(help="The message's id (its webhook-id).")],
    as_json: JsonOption = False,
) -> None:
    """Redeliver a message now (failed or delivered alike), same webhook-id and body."""
    with open_client(ctx) as client:
        attempt = client.retry_webhook_attempt(webhook_id, message_id)
    _print_attempt(f"Message {attempt.message_id} is due again", attempt, as_json=as_json)


@app.command("ping")
@handles_api_errors
def ping(ctx: typer.Context, webhook_id: WebhookIdArgument, as_json: JsonOption = False) -> None:
    """Send a `ping` event to the endpoint; follow it with `webhooks attempts`."""
    with open_client(ctx) as client:
        attempt = client.ping_webhook(webhook_id)
    _print_attempt(f"Ping {attempt.message_id} queued", attempt, as_json=as_json)
