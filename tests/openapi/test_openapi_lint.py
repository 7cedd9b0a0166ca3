"""The document passes the OpenAPI 3.1 schema (openapi-spec-validator) and the rules of
Redocly's `recommended` lint ruleset, checked here in Python so they run without Node
(tests/openapi/test_typescript_client.py runs the real `redocly lint` where Node is installed).

Both documents are checked: the one of an open server (the key optional) and the one of a
server with API keys (the key required).
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from app.core.settings import Settings
from app.main import create_app

HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
URL_SAFE = re.compile(r"^[A-Za-z0-9\-._~]+$")  # RFC 3986 unreserved characters
COMPONENT_KINDS = ("schemas", "parameters", "headers", "responses", "securitySchemes")


@pytest.fixture(scope="module", params=["open", "keyed"])
def document(request: pytest.FixtureRequest, settings: Settings) -> dict[str, Any]:
    from tests.security.conftest import CONFIGURED_KEYS

    keys = CONFIGURED_KEYS if request.param == "keyed" else ""
    with TestClient(create_app(settings.model_copy(update={"api_keys": keys}))) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, operation) for every operation, the paths' and the webhooks' alike."""
    for section in ("paths", "webhooks"):
        for path, methods in document.get(section, {}).items():
            for method, operation in methods.items():
                if method in HTTP_METHODS:
                    yield f"{method.upper()} {path}", operation


def resolve(document: dict[str, Any], reference: str) -> Any:
    """A local JSON pointer (`#/components/schemas/Problem`) in the document."""
    assert reference.startswith("#/"), f"not a local reference: {reference}"
    node: Any = document
    for escaped in reference[2:].split("/"):
        token = escaped.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"unresolved: {reference}"
        assert token in node, f"unresolved: {reference}"
        node = node[token]
    return node


def dereferenced(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The object itself, or the component its `$ref` names."""
    found: dict[str, Any] = resolve(document, node["$ref"]) if "$ref" in node else node
    return found


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate_spec(document)  # raises, saying where, on the first violation


def test_servers_are_declared_without_trailing_slashes(document: dict[str, Any]) -> None:
    """no-empty-servers, no-server-trailing-slash (the bare "/" is allowed)."""
    servers = document.get("servers", [])
    assert servers, "no servers entry"
    for server in servers:
        assert server["url"] == "/" or not server["url"].endswith("/"), server


def test_the_licence_is_named_and_identified(document: dict[str, Any]) -> None:
    """info-license, info-license-strict (an SPDX identifier or a URL)."""
    licence = document["info"]["license"]
    assert licence["name"]
    assert licence.get("identifier") or licence.get("url")


def test_operation_ids_are_unique_and_url_safe(document: dict[str, Any]) -> None:
    """operation-operationId, operation-operationId-unique, operation-operationId-url-safe."""
    ids = [operation.get("operationId") for _, operation in operations(document)]
    assert None not in ids
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    assert [i for i in ids if not URL_SAFE.match(i)] == []


def test_every_operation_has_a_summary_security_and_2xx_and_4xx(
    document: dict[str, Any],
) -> None:
    """operation-summary, security-defined, operation-2xx-response, operation-4xx-response.
    Exempt from the last: liveness (no input, no failure) and the webhooks' payloads (what a
    receiver answers is not the service's to declare)."""
    served = {f"{m.upper()} {p}" for p, methods in document["paths"].items() for m in methods}
    for where, operation in operations(document):
        assert operation.get("summary", "").strip(), f"{where}: no summary"
        assert "security" in operation or "security" in document, f"{where}: no security"
        statuses = list(operation["responses"])
        assert any(status.startswith("2") for status in statuses), f"{where}: no 2xx"
        if where in served and where != "GET /healthz":
            assert any(status.startswith("4") for status in statuses), f"{where}: no 4xx"


def test_security_requirements_name_declared_schemes(document: dict[str, Any]) -> None:
    schemes = set(document["components"]["securitySchemes"])
    for where, operation in operations(document):
        for requirement in operation["security"]:
            assert set(requirement) <= schemes, where


def test_path_parameters_match_the_path_templates(document: dict[str, Any]) -> None:
    """path-parameters-defined, operation-parameters-unique, path-not-include-query,
    no-path-trailing-slash."""
    for path, methods in document["paths"].items():
        assert "?" not in path, path
        assert path == "/" or not path.endswith("/"), path
        templated = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in methods.items():
            parameters = [dereferenced(document, p) for p in operation.get("parameters", [])]
            pairs = [(p["in"], p["name"].lower()) for p in parameters]
            assert len(pairs) == len(set(pairs)), f"{method} {path}: repeated {pairs}"
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == templated, f"{method} {path}"
            assert all(p["required"] for p in parameters if p["in"] == "path")


def test_no_two_paths_are_identical_once_parameters_are_named_alike(
    document: dict[str, Any],
) -> None:
    """no-identical-paths, no-ambiguous-paths."""
    shapes = [re.sub(r"\{[^}]+\}", "{}", path) for path in document["paths"]]
    assert sorted({s for s in shapes if shapes.count(s) > 1}) == []


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    """no-unresolved-refs: of every kind, not only schemas."""
    found = set(references(document))
    assert len(found) > 50
    for reference in found:
        resolve(document, reference)


def test_every_component_is_used(document: dict[str, Any]) -> None:
    """no-unused-components."""
    used = set(references({k: v for k, v in document.items() if k != "components"}))
    # Components used by other components count once something outside uses those.
    pending = list(used)
    while pending:
        for reference in references(resolve(document, pending.pop())):
            if reference not in used:
                used.add(reference)
                pending.append(reference)
    for requirement in (r for _, op in operations(document) for r in op["security"]):
        used |= {f"#/components/securitySchemes/{name}" for name in requirement}
    unused = [
        f"#/components/{kind}/{name}"
        for kind in COMPONENT_KINDS
        for name in document["components"].get(kind, {})
        if f"#/components/{kind}/{name}" not in used
    ]
    assert unused == []


def test_tags_are_declared_described_and_used(document: dict[str, Any]) -> None:
    """tag-description, no-duplicated-tag-names, and Redocly's operation-tag-defined."""
    declared = [tag["name"] for tag in document["tags"]]
    assert len(declared) == len(set(declared))
    assert all(tag.get("description", "").strip() for tag in document["tags"])
    used = {tag for _, operation in operations(document) for tag in operation.get("tags", [])}
    assert used == set(declared)


def test_enums_match_their_types(document: dict[str, Any]) -> None:
    """no-enum-type-mismatch."""
    kinds = {"string": str, "integer": int, "number": (int, float), "boolean": bool}

    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if "enum" in node and "type" in node:
                yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    checked = 0
    for schema in walk(document):
        assert all(isinstance(value, kinds[schema["type"]]) for value in schema["enum"]), schema
        checked += 1
    assert checked >= 5


def media_type_examples(document: dict[str, Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(where, example, schema) for the examples of every request and response body, and of
    every parameter and header."""
    for where, operation in operations(document):
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(status, response) for status, response in operation["responses"].items()]
        for label, declared in bodies:
            body = dereferenced(document, declared)
            for media_type, content in body.get("content", {}).items():
                for example in _examples(content):
                    yield f"{where} {label} {media_type}", example, content.get("schema", {})
            for name, declared_header in body.get("headers", {}).items():
                header = dereferenced(document, declared_header)
                for example in _examples(header):
                    yield f"{where} {label} header {name}", example, header["schema"]
        for declared_parameter in operation.get("parameters", []):
            parameter = dereferenced(document, declared_parameter)
            for example in _examples(parameter):
                yield f"{where} parameter {parameter['name']}", example, parameter["schema"]


def _examples(holder: dict[str, Any]) -> list[Any]:
    found = [holder["example"]] if "example" in holder else []
    found += [entry["value"] for entry in holder.get("examples", {}).values()]
    return found


def test_examples_conform_to_their_schemas(document: dict[str, Any]) -> None:
    """no-invalid-media-type-examples, no-invalid-parameter-examples, and (below, for every
    component schema) no-invalid-schema-examples."""
    components = document["components"]
    checked = 0
    for where, example, schema in media_type_examples(document):
        validator = Draft202012Validator({"allOf": [schema], "components": components})
        errors = [error.message for error in validator.iter_errors(example)]
        assert errors == [], f"{where}: {errors}"
        checked += 1
    for name, schema in components["schemas"].items():
        validator = Draft202012Validator({**schema, "components": components})
        for example in schema.get("examples", []):
            errors = [error.message for error in validator.iter_errors(example)]
            assert errors == [], f"{name}: {errors}"
            checked += 1
    assert checked >= 60
