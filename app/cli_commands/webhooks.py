"""`entropy-budget webhooks create|list|attempts|retry|ping`."""

from functools import partial
from typing import Annotated, get_args

import typer

from app.cli_commands.common import (
    JsonOption,
    Paging,
    export_history,
    handles_api_errors,
    open_client,
    paged_command,
    show_record,
    stderr,
)
from app.webhooks.rules import DeliveryStatus, EventType
from app.webhooks.schemas import EndpointCreate

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
    show_record(f"Webhook endpoint {endpoint.id}", endpoint, as_json=as_json)
    if not as_json:
        stderr().print("Keep the secret now: it is not shown again.", markup=False)


@paged_command(app, "list")
def list_webhooks(ctx: typer.Context, *, paging: Paging) -> None:
    """Webhook endpoints, newest first (never their secrets)."""
    with open_client(ctx) as client:
        export_history("Webhook endpoints", client.list_webhooks, paging, LIST_COLUMNS)


@paged_command(app, "attempts")
def attempts(
    ctx: typer.Context,
    webhook_id: WebhookIdArgument,
    status: Annotated[
        DeliveryStatus | None, typer.Option(help="Only messages in this delivery status.")
    ] = None,
    *,
    paging: Paging,
) -> None:
    """An endpoint's messages and how their delivery went, newest first."""
    with open_client(ctx) as client:
        export_history(
            f"Messages to webhook endpoint {webhook_id}",
            partial(client.webhook_attempts, webhook_id, status=status),
            paging,
            ATTEMPT_COLUMNS,
        )


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
    show_record(f"Message {attempt.message_id} is due again", attempt, as_json=as_json)


@app.command("ping")
@handles_api_errors
def ping(ctx: typer.Context, webhook_id: WebhookIdArgument, as_json: JsonOption = False) -> None:
    """Send a `ping` event to the endpoint; follow it with `webhooks attempts`."""
    with open_client(ctx) as client:
        attempt = client.ping_webhook(webhook_id)
    show_record(f"Ping {attempt.message_id} queued", attempt, as_json=as_json)
