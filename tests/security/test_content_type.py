"""A request body that is not JSON is a 415 problem, on every route that takes a body (both
readings routes included); requests without a body are not affected."""

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.settings import Settings

PROBLEM = "application/problem+json"
READING = b'{"entropy": 0.2}'
NOT_JSON = [
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "application/jsonp",
    "text/json",
]
JSON_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON",
    "application/merge-patch+json",
]


@pytest.fixture(params=[True, False], ids=["lean-readings", "std-readings"])
def readings_client(
    request: pytest.FixtureRequest, settings: Settings, make_client: Callable[..., TestClient]
) -> TestClient:
    """Settings(readings_group_commit=False) mounts only the standard readings route."""
    return make_client(settings.model_copy(update={"readings_group_commit": request.param}))


def assert_415(response: object) -> None:
    status = getattr(response, "status_code", None)
    assert status == 415, getattr(response, "text", "")
    headers = getattr(response, "headers", {})
    assert headers["content-type"] == PROBLEM
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == 415
    assert body["type"] == "urn:entropy-budget:problem:unsupported-media-type"
    assert headers["accept"] == "application/json"


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_readings_with_a_body_that_is_not_json_are_415(
    readings_client: TestClient, content_type: str
) -> None:
    response = readings_client.post(
        "/v1/jobs/job-1/entropy-readings", content=READING, headers={"content-type": content_type}
    )
    assert_415(response)


def test_readings_without_a_content_type_are_415(readings_client: TestClient) -> None:
    # httpx sends no Content-Type for raw bytes.
    response = readings_client.post("/v1/jobs/job-1/entropy-readings", content=READING)
    assert "content-type" not in response.request.headers
    assert_415(response)
    assert "no Content-Type" in response.json()["detail"]


@pytest.mark.parametrize("content_type", JSON_TYPES)
def test_readings_accept_json_and_json_suffixed_types(
    readings_client: TestClient, content_type: str
) -> None:
    response = readings_client.post(
        "/v1/jobs/job-1/entropy-readings", content=READING, headers={"content-type": content_type}
    )
    assert response.status_code == 201, response.text


def test_a_chunked_body_that_is_not_json_is_415(readings_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield READING[:5]
        yield READING[5:]

    response = readings_client.post(
        "/v1/jobs/job-1/entropy-readings", content=chunks(), headers={"content-type": "text/plain"}
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_415(response)


def body_operations(app: FastAPI) -> list[tuple[str, str]]:
    operations = []
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            if "requestBody" in operation:
                operations.append((method.upper(), re.sub(r"\{[^}]+\}", "p-1", path)))
    return operations


def test_every_route_taking_a_body_refuses_other_media_types(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    operations = body_operations(app)
    assert len(operations) >= 12
    for method, path in operations:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"content-type": content_type} if content_type else {}
            response = client.request(method, path, content=b'{"a": 1}', headers=headers)
            assert response.status_code == 415, f"{method} {path} {content_type}"
            assert response.headers["content-type"] == PROBLEM


def test_form_data_is_415(client: TestClient) -> None:
    response = client.post("/v1/patterns", data={"pattern_type": "s", "pattern_name": "n"})
    assert_415(response)
    response = client.post("/v1/patterns", files={"file": ("a.json", b"{}")})
    assert_415(response)


def test_requests_without_a_body_pass_whatever_their_content_type(client: TestClient) -> None:
    # GET never has a body; a POST whose body is optional may come without one.
    assert client.get("/v1/jobs", headers={"content-type": "text/plain"}).status_code == 200
    assert client.post("/v1/pattern-entropy/snapshots").status_code == 201
    snapshot = client.post(
        "/v1/pattern-entropy/snapshots", headers={"content-type": "text/plain"}, content=b""
    )
    assert snapshot.status_code == 201

    def nothing() -> Iterator[bytes]:
        yield b""

    chunked_empty = client.post("/v1/pattern-entropy/snapshots", content=nothing())
    assert chunked_empty.status_code == 201


def test_json_with_a_wrong_body_is_still_a_422(client: TestClient) -> None:
    response = client.post(
        "/v1/jobs/job-1/entropy-readings",
        content=b"entropy=0.2",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
