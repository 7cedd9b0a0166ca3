"""The OpenAPI document generated clients are built from: names, summaries, errors, examples."""

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.alerts.schemas import AlertReport
from app.budget.schemas import (
    BudgetAdjustmentRequest,
    BudgetRecord,
    BudgetStatistics,
    BudgetUpdate,
)
from app.core import api_keys
from app.core.settings import Settings
from app.entropy.schemas import PatternEntropyMetrics, PatternEntropySnapshot, SnapshotRequest
from app.jobs.schemas import (
    Policy,
    PolicyChanges,
    ReadingRequest,
    ReadingResult,
    SelectionRequest,
    SelectionResult,
)
from app.main import create_app
from app.patterns.schemas import (
    ApplicationBatchCreate,
    ApplicationCreate,
    ApplicationOutcome,
    ApplicationRecord,
    PatternCreate,
    PatternRecord,
    PatternStatusUpdate,
)
from app.responses.schemas import (
    EntropyResponseRecord,
    ResponseCheck,
    ResponseStatistics,
    TriggerRequest,
)
from app.webhooks.schemas import (
    AttemptRecord,
    EndpointCreate,
    EndpointRecord,
    EndpointUpdate,
    EndpointWithSecret,
    StatusChange,
)
from tests.support import empty_tables

PROBLEM = "application/problem+json"
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
WRITE_METHODS = {"post", "put", "patch", "delete"}
WITHOUT_DATABASE = {"get_health"}
NOT_FOUND_WITHOUT_PATH_PARAMETER = {"get_budget", "get_latest_entropy_response"}
PATH_PARAMETER_WITHOUT_NOT_FOUND = {
    # A job exists implicitly: its policy has defaults, and a reading or selection starts it.
    "get_job_policy",
    "put_job_policy",
    "record_entropy_reading",
    "select_pattern",
}

REQUEST_MODELS: list[type[BaseModel]] = [
    BudgetUpdate,
    BudgetAdjustmentRequest,
    TriggerRequest,
    SnapshotRequest,
    PatternCreate,
    PatternStatusUpdate,
    ApplicationCreate,
    ApplicationBatchCreate,
    ApplicationOutcome,
    PolicyChanges,
    ReadingRequest,
    SelectionRequest,
    EndpointCreate,
    EndpointUpdate,
]
RECORD_MODELS: list[type[BaseModel]] = [
    BudgetRecord,
    BudgetStatistics,
    EntropyResponseRecord,
    ResponseCheck,
    ResponseStatistics,
    PatternEntropyMetrics,
    PatternEntropySnapshot,
    PatternRecord,
    ApplicationRecord,
    AlertReport,
    Policy,
    ReadingResult,
    SelectionResult,
    EndpointRecord,
    EndpointWithSecret,
    AttemptRecord,
    StatusChange,
]


@pytest.fixture(scope="module")
def app_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """One app for the module, started on empty tables: a module's fixture is set up before the
    first test's emptying, and the app reads the keys table when it starts (a key an earlier
    module left there would make this open server ask for one)."""
    empty_tables(engine)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def document(app_client: TestClient) -> dict[str, Any]:
    response = app_client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def takes_input(operation: dict[str, Any]) -> bool:
    return bool(operation.get("parameters")) or "requestBody" in operation


def test_every_operation_has_a_unique_readable_operation_id(document: dict[str, Any]) -> None:
    ids = [operation.get("operationId") for _, _, operation in operations(document)]

    assert all(isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in ids)
    assert [name for name, count in Counter(ids).items() if count > 1] == []
    assert len(ids) >= 26


def test_every_operation_has_a_summary(document: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(document)
        if not operation.get("summary", "").strip()
    ]
    assert missing == []


def test_every_operation_taking_input_documents_its_422_as_a_validation_problem(
    document: dict[str, Any],
) -> None:
    checked = 0
    for path, method, operation in operations(document):
        if not takes_input(operation):
            continue
        response = operation["responses"].get("422")
        assert response is not None, f"{method.upper()} {path} has no 422"
        assert list(response["content"]) == [PROBLEM], f"{method.upper()} {path}"
        schema = response["content"][PROBLEM]["schema"]
        assert schema == {"$ref": "#/components/schemas/ValidationProblem"}
        checked += 1
    assert checked >= 25


def test_the_validation_problem_schema_has_the_field_errors(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    validation = schemas["ValidationProblem"]
    field_error = schemas["FieldError"]

    assert set(validation["required"]) == {"type", "title", "status", "detail", "errors"}
    assert validation["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/FieldError"
    }
    assert set(field_error["required"]) == {"loc", "msg", "type"}
    assert "HTTPValidationError" not in schemas  # FastAPI's shape is not what we send


def test_every_error_response_is_a_problem_document(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert list(response["content"]) == [PROBLEM], f"{method} {path} {status}"
                ref = response["content"][PROBLEM]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in {"Problem", "ValidationProblem", "NotReadyProblem"}


def test_404_409_and_503_appear_where_they_can_happen(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        name = operation["operationId"]
        statuses = set(operation["responses"])
        has_path_parameter = "{" in path
        if name not in WITHOUT_DATABASE:
            assert "503" in statuses, name
            assert "Retry-After" in operation["responses"]["503"]["headers"], name
        if method in WRITE_METHODS:
            assert "409" in statuses, name
        if name in PATH_PARAMETER_WITHOUT_NOT_FOUND:
            assert "404" not in statuses, name
        elif has_path_parameter or name in NOT_FOUND_WITHOUT_PATH_PARAMETER:
            assert "404" in statuses, name


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    references = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert references <= set(document["components"]["schemas"])


def test_fixed_vocabularies_are_shared_components(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    status_property = schemas["PatternRecord"]["properties"]["quarantine_status"]

    assert schemas["QuarantineStatus"]["enum"] == ["pending", "quarantined", "validated", "retired"]
    assert status_property["$ref"] == "#/components/schemas/QuarantineStatus"
    assert '"enum"' not in json.dumps(schemas["PatternCreate"])


@pytest.mark.parametrize("model", REQUEST_MODELS + RECORD_MODELS, ids=lambda m: m.__name__)
def test_request_bodies_and_records_have_examples_that_validate(
    document: dict[str, Any], model: type[BaseModel]
) -> None:
    examples = document["components"]["schemas"][model.__name__].get("examples")

    assert examples, f"{model.__name__} has no example"
    for example in examples:
        model.model_validate_json(json.dumps(example))


def test_request_bodies_of_operations_are_documented_with_examples(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for _, _, operation in operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        schema = body["content"]["application/json"]["schema"]
        refs = [schema] if "$ref" in schema else schema.get("anyOf", [])
        names = [ref["$ref"].rsplit("/", 1)[1] for ref in refs if "$ref" in ref]
        assert names, operation["operationId"]
        for name in names:
            assert schemas[name].get("examples"), f"{operation['operationId']}: {name}"


def test_a_real_422_has_the_documented_shape(app_client: TestClient) -> None:
    response = app_client.post(
        "/v1/budget/adjustments", json={"job_hash": "job 42", "current_entropy": 2}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert [tuple(error) for error in body["errors"]] == [("loc", "msg", "type")] * 2
    assert [error["loc"] for error in body["errors"]] == [
        ["body", "job_hash"],
        ["body", "current_entropy"],
    ]


def test_v1_operations_declare_the_bearer_scheme_and_its_401_and_403(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    checked = 0
    for path, method, operation in operations(document):
        statuses = set(operation["responses"])
        name = operation["operationId"]
        if not path.startswith("/v1/"):
            assert operation["security"] == [], name  # health and the like stay open
            assert "401" not in statuses, name
            continue
        assert "401" in statuses, name
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], name
        assert ("403" in statuses) == (method in WRITE_METHODS), name
        checked += 1
    assert checked >= 28


def v1_security(document: dict[str, Any]) -> list[Any]:
    """The security requirements of the /v1 operations, which must all be the same."""
    found = {
        json.dumps(operation["security"])
        for path, _, operation in operations(document)
        if path.startswith("/v1/")
    }
    assert len(found) == 1, found
    requirements: list[Any] = json.loads(found.pop())
    return requirements


def test_an_open_server_declares_the_key_optional(document: dict[str, Any]) -> None:
    """No key configured: a request without one is valid, and the document says so."""
    assert v1_security(document) == [{"bearerAuth": []}, {}]


def test_a_keyed_server_declares_the_key_required(settings: Settings) -> None:
    from tests.security.conftest import CONFIGURED_KEYS

    keyed = settings.model_copy(update={"api_keys": CONFIGURED_KEYS})
    with TestClient(create_app(keyed)) as client:
        assert v1_security(client.get("/openapi.json").json()) == [{"bearerAuth": []}]


def test_a_key_created_in_the_table_makes_the_key_required(
    settings: Settings, engine: Engine
) -> None:
    """`entropy-budget keys create` closes an open server: its document follows (once the
    key cache expires, here at once)."""
    fresh = settings.model_copy(update={"api_keys_cache_seconds": 0})
    with TestClient(create_app(fresh)) as client:
        before = client.get("/openapi.json").json()
        with Session(engine) as session:
            api_keys.create_key(session, name="ci", scope="read", now=datetime.now(UTC))
            session.commit()
        after = client.get("/openapi.json").json()

    assert v1_security(before) == [{"bearerAuth": []}, {}]
    assert v1_security(after) == [{"bearerAuth": []}]


def test_415_413_and_429_are_documented_where_they_can_happen(document: dict[str, Any]) -> None:
    for path, _method, operation in operations(document):
        responses = operation["responses"]
        name = operation["operationId"]
        takes_body = "requestBody" in operation
        assert ("415" in responses) == takes_body, name
        assert ("413" in responses) == takes_body, name
        if path in {"/healthz", "/readyz", "/metrics"}:
            assert "429" not in responses, name
        else:
            assert "Retry-After" in responses["429"]["headers"], name


def test_real_401_403_415_and_429_have_the_documented_shape(settings: Settings) -> None:
    from tests.security.conftest import CONFIGURED_KEYS, READ_KEY, WRITE_KEY

    keyed = settings.model_copy(update={"api_keys": CONFIGURED_KEYS, "rate_limit": "2/minute"})
    with TestClient(create_app(keyed)) as client:
        read = {"Authorization": f"Bearer {READ_KEY}"}
        write = {"Authorization": f"Bearer {WRITE_KEY}"}
        # Refused by auth (401, 403) before the rate limit counts anything.
        problems = {
            401: client.get("/v1/jobs"),
            403: client.post("/v1/budget", json={}, headers=read),
            415: client.post("/v1/budget", content=b"x", headers=write),
        }
        assert client.get("/v1/jobs", headers=read).status_code == 200
        assert client.get("/v1/jobs", headers=read).status_code == 200
        problems[429] = client.get("/v1/jobs", headers=read)
    for status, answer in problems.items():
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert set(answer.json()) == {"type", "title", "status", "detail"}


def test_links_lead_from_each_creation_to_real_operations(document: dict[str, Any]) -> None:
    by_id = {
        operation["operationId"]: (path, operation) for path, _, operation in operations(document)
    }
    linked = 0
    for _, _, operation in operations(document):
        for status, response in operation["responses"].items():
            for name, link in response.get("links", {}).items():
                assert status[0] == "2", name
                target_path, _ = by_id[link["operationId"]]
                path_parameters = set(re.findall(r"\{([^}]+)\}", target_path))
                assert set(link["parameters"]) == path_parameters, name
                for expression in link["parameters"].values():
                    assert re.fullmatch(
                        r"\$(response\.body#/[a-z_/]+|request\.path\.[a-z_]+)", expression
                    )
                linked += 1
    assert linked >= 15
    create = by_id["create_pattern"][1]["responses"]["201"]["links"]
    assert create["GetPattern"] == {
        "operationId": "get_pattern",
        "parameters": {"pattern_id": "$response.body#/id"},
    }


def test_text_fields_document_the_control_characters_they_refuse(document: dict[str, Any]) -> None:
    properties = document["components"]["schemas"]["PatternCreate"]["properties"]
    name_pattern = properties["pattern_name"]["pattern"]
    description_pattern = properties["description"]["anyOf"][0]["pattern"]
    assert re.fullmatch(name_pattern, "Reflect, then act ✓")
    assert not re.fullmatch(name_pattern, "bell\u0007")
    assert not re.fullmatch(name_pattern, "two\nlines")
    assert re.fullmatch(description_pattern, "two\nlines\tand a tab")
    assert not re.fullmatch(description_pattern, "nul\u0000")
    assert not re.fullmatch(description_pattern, "c1\u0085")
