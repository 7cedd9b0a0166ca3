"""The OpenAPI document offers the exports on the three history operations."""

import csv
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine

from app.budget.schemas import BudgetRecord
from app.core.settings import Settings
from app.entropy.schemas import PatternEntropySnapshot
from app.main import create_app
from app.responses.schemas import EntropyResponseRecord
from tests.support import empty_tables

PROBLEM = "application/problem+json"
HISTORY_OPERATIONS = {
    "/v1/budget/history": ("budget-history", BudgetRecord, "BudgetRecordPage"),
    "/v1/entropy-responses/history": (
        "entropy-responses-history",
        EntropyResponseRecord,
        "EntropyResponsePage",
    ),
    "/v1/pattern-entropy/history": (
        "pattern-entropy-history",
        PatternEntropySnapshot,
        "PatternEntropySnapshotPage",
    ),
}


@pytest.fixture(scope="module")
def document(settings: Settings, engine: Engine) -> dict[str, Any]:
    empty_tables(engine)  # before the first test's emptying: the app reads the keys at start
    with TestClient(create_app(settings)) as client:
        spec: dict[str, Any] = client.get("/openapi.json").json()
    return spec


@pytest.mark.parametrize("path", HISTORY_OPERATIONS)
def test_a_history_documents_json_csv_and_ndjson(document: dict[str, Any], path: str) -> None:
    name, _, page = HISTORY_OPERATIONS[path]
    responses = document["paths"][path]["get"]["responses"]
    content = responses["200"]["content"]

    assert list(content) == ["application/json", "text/csv", "application/x-ndjson"]
    assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{page}"}
    assert content["text/csv"]["schema"]["type"] == "string"
    assert content["application/x-ndjson"]["schema"]["type"] == "string"
    disposition = responses["200"]["headers"]["Content-Disposition"]["schema"]["example"]
    assert disposition == f'attachment; filename="{name}.csv"'
    assert list(responses["406"]["content"]) == [PROBLEM]
    assert responses["406"]["content"][PROBLEM]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


@pytest.mark.parametrize("path", HISTORY_OPERATIONS)
def test_the_export_examples_are_the_record_examples(document: dict[str, Any], path: str) -> None:
    _, record, _ = HISTORY_OPERATIONS[path]
    content = document["paths"][path]["get"]["responses"]["200"]["content"]
    model: type[BaseModel] = record
    examples = document["components"]["schemas"][record.__name__]["examples"]

    rows = list(csv.reader(io.StringIO(content["text/csv"]["example"], newline="")))
    assert rows[0] == list(model.model_fields)
    assert len(rows) == 1 + len(examples)
    lines = content["application/x-ndjson"]["example"].splitlines()
    assert [model.model_validate_json(line) for line in lines] == [
        model.model_validate(example) for example in examples
    ]
    assert [json.loads(line)["id"] for line in lines] == [
        row[rows[0].index("id")] for row in rows[1:]
    ]
