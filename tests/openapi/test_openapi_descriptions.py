"""The document teaches: every operation, parameter, schema, schema property and response header
of /openapi.json says what it is. A field added without a description fails here, naming it."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.settings import Settings
from app.main import create_app
from tests.support import empty_tables

HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
HOW_TO_DESCRIBE = """
These parts of /openapi.json have no description:
  {missing}
Describe each where it is declared:
  - a model field: `name: T = Field(description="...")` (a model: its docstring);
  - a query, path or header parameter: `Query(description=...)`, `Path(...)`, `Header(...)`;
  - an operation: the endpoint function's docstring;
  - a named vocabulary: its entry in app.main.NAMED_ENUMS;
  - a response header: its entry in `responses=` (app.core.http has the shared ones)."""


@pytest.fixture(scope="module")
def document(settings: Settings, engine: Engine) -> dict[str, Any]:
    empty_tables(engine)  # before the first test's emptying: the app reads the keys at start
    with TestClient(create_app(settings)) as client:
        spec: dict[str, Any] = client.get("/openapi.json").json()
    return spec


def resolved(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in node:
        return node
    found: Any = document
    for token in node["$ref"][2:].split("/"):
        found = found[token]
    result: dict[str, Any] = found
    return result


def described(node: dict[str, Any]) -> bool:
    return bool(str(node.get("description", "")).strip())


def undescribed(document: dict[str, Any]) -> Iterator[str]:
    """Where each missing description would go, as `kind where`."""
    for section in ("paths", "webhooks"):
        for path, methods in document.get(section, {}).items():
            for method, operation in methods.items():
                if method in HTTP_METHODS:
                    yield from undescribed_in_operation(
                        document, f"{method.upper()} {path}", operation
                    )
    for name, schema in document["components"]["schemas"].items():
        if not described(schema):
            yield f"schema {name}"
        for field, property_schema in schema.get("properties", {}).items():
            if not described(property_schema):
                yield f"property {name}.{field}"


def undescribed_in_operation(
    document: dict[str, Any], where: str, operation: dict[str, Any]
) -> Iterator[str]:
    if not described(operation):
        yield f"operation {where} ({operation['operationId']})"
    for declared in operation.get("parameters", []):
        parameter = resolved(document, declared)
        if not described(parameter):
            yield f"{parameter['in']} parameter {parameter['name']} of {where}"
    for status, response in operation["responses"].items():
        for name, header in response.get("headers", {}).items():
            if not described(resolved(document, header)):
                yield f"header {name} of {where} {status}"


def test_every_part_of_the_document_is_described(document: dict[str, Any]) -> None:
    missing = list(undescribed(document))
    assert not missing, HOW_TO_DESCRIBE.format(missing="\n  ".join(missing))


def test_the_walk_sees_every_part(document: dict[str, Any]) -> None:
    """The walk above is not vacuous: it visits the parts it claims to."""
    schemas = document["components"]["schemas"]
    properties = sum(len(schema.get("properties", {})) for schema in schemas.values())
    operations = [
        operation
        for methods in document["paths"].values()
        for method, operation in methods.items()
        if method in HTTP_METHODS
    ]
    parameters = sum(len(operation.get("parameters", [])) for operation in operations)
    assert len(schemas) >= 60
    assert properties >= 200
    assert len(operations) >= 30
    assert parameters >= 40
    stripped = {**document, "components": {**document["components"], "schemas": {}}}
    stripped["components"]["schemas"]["Bare"] = {"properties": {"x": {"type": "string"}}}
    assert list(undescribed(stripped))[-2:] == ["schema Bare", "property Bare.x"]


def test_path_parameters_have_examples(document: dict[str, Any]) -> None:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    assert parameter["schema"].get("examples") or parameter.get("examples"), (
                        f"{method.upper()} {path}: {parameter['name']}"
                    )
