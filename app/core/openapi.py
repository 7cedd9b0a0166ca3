"""The OpenAPI document that generated clients are built from.

FastAPI documents a 422 with its own `HTTPValidationError` shape and fastapi-problem a bare
`Problem`; neither is what the service sends. This puts the real problem documents in the
components (`Problem`, and `ValidationProblem` with its `errors`), points every 422 at the
latter as `application/problem+json`, and drops the unused FastAPI shapes, so a generated
client parses every error answer into a model with the right fields.

The service types its fixed vocabularies as `Literal`s, which pydantic writes inline wherever
they appear; a generator then makes one enum per use (`PatternRecordQuarantineStatus`,
`PatternCreateQuarantineStatus`...). Named here, each becomes one shared component.

FastAPI serialises the document with `exclude_none`, which also strips the `null` values out of
the models' examples (`"quarantined_at": null`), leaving examples that fail their own schema;
required nullable fields get their `null` back.

Access is enforced by middleware (`app.core.auth`, `app.core.middleware`), which FastAPI does not
see; this documents it: the `bearerAuth` scheme on every `/v1` operation with its 401 (and 403 on
writes), required once API keys are configured and optional while the server runs open (two
variants of the document, chosen by the key store's state); `security: []` on the open routes;
413 and 415 where a body is taken, and 429 wherever the rate limit applies. The idempotency of
POSTs is read by a dependency FastAPI documents nothing of: the `Idempotency-Key` header and the
`Idempotent-Replayed` answer are declared here on every `/v1` POST (all of which claim the key
with their transaction, `app.core.db.get_session`).
"""

import copy
from collections.abc import Callable, Mapping
from typing import Any, get_args

from fastapi import FastAPI

from app.core import idempotency, idempotency_http
from app.core.http import problem_responses
from app.core.methods import METHODS, WRITE_METHODS
from app.core.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_URI

SECURITY_SCHEME_NAME = "bearerAuth"
SECURITY_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key with the `read` scope (reads) or the `write` scope (reads and "
    "writes): `Authorization: Bearer eb_...`. A server without any API key configured runs "
    "open and ignores it; its document then declares the key as optional.",
}
KEY_REQUIRED: list[dict[str, list[str]]] = [{SECURITY_SCHEME_NAME: []}]
KEY_OPTIONAL: list[dict[str, list[str]]] = [{SECURITY_SCHEME_NAME: []}, {}]
OPEN: list[dict[str, list[str]]] = []
API_PREFIX = "/v1/"
RATE_LIMIT_EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})

PROBLEM_FIELDS: dict[str, Any] = {
    "type": {
        "type": "string",
        "title": "Type",
        "description": "A URI naming the kind of problem.",
    },
    "title": {"type": "string", "title": "Title", "description": "Short summary of the kind."},
    "status": {"type": "integer", "title": "Status", "description": "The HTTP status code."},
    "detail": {
        "type": "string",
        "title": "Detail",
        "description": "What went wrong with this request.",
    },
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document: every error the service returns.",
    "type": "object",
    "properties": PROBLEM_FIELDS,
    "required": ["type", "title", "status"],
}

FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError",
    "description": "One invalid input.",
    "type": "object",
    "properties": {
        "loc": {
            "type": "array",
            "title": "Location",
            "description": 'Where: ["body", "job_hash"], ["query", "limit"]...',
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "msg": {"type": "string", "title": "Message", "description": "What is wrong with it."},
        "type": {
            "type": "string",
            "title": "Error type",
            "description": "A machine-readable kind: missing, less_than_equal, url_refused...",
        },
    },
    "required": ["loc", "msg", "type"],
}

VALIDATION_PROBLEM_EXAMPLE: dict[str, Any] = {
    "type": PROBLEM_TYPE_URI.format(type="validation-error"),
    "title": "Request validation failed",
    "status": 422,
    "detail": "body.current_entropy: Input should be less than or equal to 1",
    "errors": [
        {
            "loc": ["body", "current_entropy"],
            "msg": "Input should be less than or equal to 1",
            "type": "less_than_equal",
        }
    ],
}

VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "description": "A 422 problem: `detail` summarises, `errors` lists every invalid input.",
    "type": "object",
    "properties": {
        **PROBLEM_FIELDS,
        "errors": {
            "type": "array",
            "title": "Errors",
            "description": "Every invalid input, one entry each.",
            "items": {"$ref": "#/components/schemas/FieldError"},
        },
    },
    "required": ["type", "title", "status", "detail", "errors"],
    "examples": [VALIDATION_PROBLEM_EXAMPLE],
}

VALIDATION_RESPONSE: dict[str, Any] = {
    "description": "Invalid input: every failing field is listed in `errors`",
    "content": {
        PROBLEM_MEDIA_TYPE: {
            "schema": {"$ref": "#/components/schemas/ValidationProblem"},
            "example": VALIDATION_PROBLEM_EXAMPLE,
        }
    },
}

NOT_READY_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "NotReadyProblem",
    "description": "The 503 of `/readyz`: a problem document that also gives the revisions.",
    "type": "object",
    "properties": {
        **PROBLEM_FIELDS,
        "revision": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "title": "Revision",
            "description": "The database schema's Alembic revision; null when the database "
            "does not answer or has no revision yet.",
            "examples": ["0001"],
        },
        "head": {
            "type": "string",
            "title": "Head",
            "description": "The head revision of the migrations this version ships.",
            "examples": ["0002"],
        },
    },
    "required": ["type", "title", "status", "detail", "revision", "head"],
}

IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the first request with a key runs, and any later one "
    "with the same key (from the same caller, within the key's lifetime) gets the stored "
    "response again, with `Idempotent-Replayed: true`, instead of running twice. The same key "
    "with a different request is a 422. 1-255 visible ASCII characters; a UUID is a good key.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": idempotency_http.KEY_PATTERN.pattern,
    },
    "example": "3f1c2a9e-7b4d-4e21-9c0a-5d8e6f7a8b90",
}

IDEMPOTENT_REPLAYED_HEADER: dict[str, Any] = {
    "description": "`true` when this is the stored response of an earlier request with the "
    "same `Idempotency-Key` (nothing ran again); absent otherwise.",
    "schema": {"type": "string", "enum": ["true"]},
}

SERVERS: list[dict[str, str]] = [
    {"url": "/", "description": "The server that serves this document (its own origin)."}
]
LICENSE: dict[str, str] = {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}

_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install_openapi(
    app: FastAPI,
    *,
    enums: Mapping[str, tuple[Any, str]],
    keys_required: Callable[[], bool],
) -> None:
    """Wrap `app.openapi` (after fastapi-problem has wrapped it) and cache the result: one
    document while API keys are required (`keys_required()`), one while the server runs open.

    `enums` names and describes `Literal` types: `{"QuarantineStatus": (QuarantineStatus,
    "Where a pattern stands...")}`.
    """
    generate: Callable[[], dict[str, Any]] = app.openapi
    named = {
        name: (tuple(get_args(literal)), description)
        for name, (literal, description) in enums.items()
    }
    cached: dict[bool, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        required = keys_required()
        if required not in cached:
            cached[required] = _customise(copy.deepcopy(generate()), named, required)
        return cached[required]

    app.openapi = openapi  # type: ignore[method-assign]


def _customise(
    document: dict[str, Any],
    enums: Mapping[str, tuple[tuple[Any, ...], str]],
    keys_required: bool,
) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    document["servers"] = SERVERS
    document["info"]["license"] = LICENSE
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = VALIDATION_RESPONSE
    _document_access(document, KEY_REQUIRED if keys_required else KEY_OPTIONAL)
    _document_idempotency(document)
    for operations in document.get("webhooks", {}).values():
        for operation in operations.values():
            operation["security"] = OPEN  # signed by the service (see their headers), no key
    _add_links(document)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    by_values = {frozenset(values): name for name, (values, _) in enums.items()}
    document["paths"] = _name_enums(document.get("paths", {}), by_values)
    schemas.update(_name_enums(schemas, by_values))
    for name, (values, description) in enums.items():
        schemas[name] = {
            "title": name,
            "description": description,
            "type": "string",
            "enum": list(values),
        }
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["FieldError"] = FIELD_ERROR_SCHEMA
    schemas["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA
    schemas["NotReadyProblem"] = NOT_READY_PROBLEM_SCHEMA
    for schema in schemas.values():
        _restore_null_examples(schema)
    return document


LINKS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    # operationId of a creation: {link name: (operationId it leads to, its parameters)}
    "create_pattern": {
        "GetPattern": ("get_pattern", {"pattern_id": "$response.body#/id"}),
        "UpdatePatternStatus": ("update_pattern_status", {"pattern_id": "$response.body#/id"}),
        "RecordApplication": ("record_pattern_application", {"pattern_id": "$response.body#/id"}),
    },
    "record_pattern_application": {
        "GetApplication": ("get_pattern_application", {"application_id": "$response.body#/id"}),
        "ReportOutcome": (
            "report_pattern_application_outcome",
            {"application_id": "$response.body#/id"},
        ),
    },
    "select_pattern": {
        "GetApplication": (
            "get_pattern_application",
            {"application_id": "$response.body#/application_id"},
        ),
        "ReportOutcome": (
            "report_pattern_application_outcome",
            {"application_id": "$response.body#/application_id"},
        ),
        "GetPattern": ("get_pattern", {"pattern_id": "$response.body#/pattern_id"}),
    },
    "set_budget": {"GetRecord": ("get_budget_record", {"record_id": "$response.body#/id"})},
    "adjust_budget": {"GetRecord": ("get_budget_record", {"record_id": "$response.body#/id"})},
    "record_entropy_reading": {
        "GetAdjustment": ("get_budget_record", {"record_id": "$response.body#/adjustment/id"}),
        "GetPolicy": ("get_job_policy", {"job_hash": "$request.path.job_hash"}),
    },
    "trigger_entropy_response": {
        "GetResponse": ("get_entropy_response", {"response_id": "$response.body#/id"})
    },
    "record_pattern_entropy_snapshot": {
        "GetSnapshot": ("get_pattern_entropy_snapshot", {"snapshot_id": "$response.body#/id"})
    },
    "put_job_policy": {"GetPolicy": ("get_job_policy", {"job_hash": "$request.path.job_hash"})},
}
"""OpenAPI links from each creation to the operations that take what it created (the record
its `Location` names, and what can be done with it next)."""


def _add_links(document: dict[str, Any]) -> None:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            links = LINKS.get(operation.get("operationId", ""), {})
            success = next(
                (r for status, r in operation.get("responses", {}).items() if status[0] == "2"),
                None,
            )
            if not links or success is None:
                continue
            success["links"] = {
                name: {"operationId": target, "parameters": parameters}
                for name, (target, parameters) in links.items()
            }


def _document_access(document: dict[str, Any], security: list[dict[str, list[str]]]) -> None:
    document.setdefault("components", {}).setdefault("securitySchemes", {})[
        SECURITY_SCHEME_NAME
    ] = SECURITY_SCHEME
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method.upper() not in METHODS:
                continue
            statuses: list[int] = []
            operation["security"] = OPEN
            if path.startswith(API_PREFIX):
                operation["security"] = security
                statuses += [401, 403] if method.upper() in WRITE_METHODS else [401]
            if "requestBody" in operation:
                statuses += [413, 415]
            if path not in RATE_LIMIT_EXEMPT:
                statuses.append(429)
            responses = operation.setdefault("responses", {})
            for status, response in problem_responses(*statuses).items():
                responses.setdefault(str(status), response)
            operation["responses"] = dict(sorted(responses.items()))


def _document_idempotency(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {})
    components.setdefault("parameters", {})["IdempotencyKey"] = IDEMPOTENCY_KEY_PARAMETER
    components.setdefault("headers", {})["IdempotentReplayed"] = IDEMPOTENT_REPLAYED_HEADER
    for path, operations in document.get("paths", {}).items():
        operation = operations.get("post")
        if operation is None or not path.startswith(API_PREFIX):
            continue
        operation.setdefault("parameters", []).append(
            {"$ref": "#/components/parameters/IdempotencyKey"}
        )
        for status, response in operation["responses"].items():
            if status[0] == "2":
                response.setdefault("headers", {})[idempotency_http.REPLAYED_HEADER] = {
                    "$ref": "#/components/headers/IdempotentReplayed"
                }


def _restore_null_examples(schema: dict[str, Any]) -> None:
    properties = schema.get("properties", {})
    for example in schema.get("examples", []):
        if not isinstance(example, dict):
            continue
        for name in schema.get("required", []):
            if name not in example and _nullable(properties.get(name, {})):
                example[name] = None


def _nullable(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(
        option.get("type") == "null" for option in schema.get("anyOf", [])
    )


_ENUM_KEYWORDS = frozenset({"type", "enum", "title"})


def _name_enums(node: Any, by_values: Mapping[frozenset[Any], str]) -> Any:
    """Replace inline string enums whose values are a named vocabulary by a `$ref` to it
    (keeping `default` and `description` beside the reference)."""
    if isinstance(node, list):
        return [_name_enums(item, by_values) for item in node]
    if not isinstance(node, dict):
        return node
    values = node.get("enum")
    if node.get("type") == "string" and isinstance(values, list):
        name = by_values.get(frozenset(values))
        if name is not None and len(values) == len(set(values)):
            kept = {key: value for key, value in node.items() if key not in _ENUM_KEYWORDS}
            return {"$ref": f"#/components/schemas/{name}", **kept}
    return {key: _name_enums(value, by_values) for key, value in node.items()}
