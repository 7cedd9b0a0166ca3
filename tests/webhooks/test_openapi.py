"""The webhooks part of the OpenAPI document: the tag, a description on every operation,
parameter and property, examples, and the payloads a receiver gets (the `webhooks` section)."""

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.settings import Settings
from app.main import create_app

SCHEMA_REF = re.compile(r'"#/components/schemas/([A-Za-z_]+)"')


@pytest.fixture(scope="module")
def document(settings: Settings) -> dict[str, Any]:
    with TestClient(create_app(settings.model_copy(update={"webhooks_dispatch": False}))) as c:
        spec: dict[str, Any] = c.get("/openapi.json").json()
        return spec


def webhook_operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        if path.startswith("/v1/webhooks"):
            for method, operation in methods.items():
                yield f"{method.upper()} {path}", operation
    for name, methods in document["webhooks"].items():
        for method, operation in methods.items():
            yield f"webhook {method.upper()} {name}", operation


def reachable_schemas(document: dict[str, Any], roots: list[Any]) -> set[str]:
    schemas = document["components"]["schemas"]
    todo = [name for root in roots for name in SCHEMA_REF.findall(json.dumps(root))]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += SCHEMA_REF.findall(json.dumps(schemas[name]))
    return seen


def test_the_routes_are_all_there_under_the_webhooks_tag(document: dict[str, Any]) -> None:
    [tag] = [t for t in document["tags"] if t["name"] == "webhooks"]
    assert tag["description"]
    operations = dict(webhook_operations(document))
    assert set(operations) == {
        "POST /v1/webhooks",
        "GET /v1/webhooks",
        "GET /v1/webhooks/{webhook_id}",
        "PATCH /v1/webhooks/{webhook_id}",
        "DELETE /v1/webhooks/{webhook_id}",
        "POST /v1/webhooks/{webhook_id}/rotate-secret",
        "POST /v1/webhooks/{webhook_id}/ping",
        "GET /v1/webhooks/{webhook_id}/attempts",
        "POST /v1/webhooks/{webhook_id}/attempts/{message_id}/retry",
        "webhook POST entropy_response.triggered",
        "webhook POST pattern.status_changed",
        "webhook POST ping",
    }
    assert all(op["tags"] == ["webhooks"] for op in operations.values())


def resolved(document: dict[str, Any], parameter: dict[str, Any]) -> dict[str, Any]:
    """A parameter declared once under components (Idempotency-Key) is used by reference."""
    if "$ref" not in parameter:
        return parameter
    found: dict[str, Any] = document["components"]["parameters"][parameter["$ref"].split("/")[-1]]
    return found


def test_every_operation_and_parameter_has_a_description(document: dict[str, Any]) -> None:
    missing = []
    for name, operation in webhook_operations(document):
        if not (operation.get("summary") and operation.get("description")):
            missing.append(name)
        parameters = [resolved(document, p) for p in operation.get("parameters", [])]
        missing += [f"{name} {p['name']}" for p in parameters if not p.get("description")]
    assert missing == []


def test_every_property_of_their_schemas_has_a_description(document: dict[str, Any]) -> None:
    roots = [operation for _, operation in webhook_operations(document)]
    names = reachable_schemas(document, roots)
    schemas = document["components"]["schemas"]
    missing = [
        f"{name}.{field}"
        for name in sorted(names)
        for field, spec in schemas[name].get("properties", {}).items()
        if not spec.get("description")
    ]
    assert {"EndpointRecord", "AttemptRecord", "StatusChange", "PingPayload"} <= names
    assert missing == []


def test_bodies_sent_and_received_have_examples(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in (
        "EndpointCreate",
        "EndpointUpdate",
        "EndpointRecord",
        "EndpointWithSecret",
        "AttemptRecord",
        "StatusChange",
        "EntropyResponseRecord",
    ):
        assert schemas[name].get("examples"), name


def test_the_vocabularies_are_shared_components(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["WebhookEventType"]["enum"] == [
        "entropy_response.triggered",
        "pattern.status_changed",
    ]
    assert schemas["DeliveryStatus"]["enum"] == ["pending", "delivered", "failed"]
    assert schemas["EndpointRecord"]["properties"]["events"]["items"] == {
        "$ref": "#/components/schemas/WebhookEventType"
    }
