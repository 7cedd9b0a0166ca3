"""What schemathesis found, pinned: each was a mismatch between the API and its document."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.core.settings import Settings

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/budget", "GET, POST"),
        ("DELETE", "/v1/patterns/p-1", "GET, PATCH"),
        ("OPTIONS", "/v1/jobs/job-1/policy", "GET, PUT"),
        ("PUT", "/v1/pattern-applications/a-1", "GET, PATCH"),
        ("GET", "/v1/jobs/job-1/entropy-readings", "POST"),
        ("POST", "/healthz", "GET"),
    ],
)
def test_a_405_names_every_method_of_the_path(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    # Starlette named only the methods of the first route matching the path (`Allow: GET` for
    # /v1/budget, whose POST is another route).
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == f"{method} is not allowed here; use {allowed}."


@pytest.fixture(params=[True, False], ids=["lean-readings", "std-readings"])
def any_client(
    request: pytest.FixtureRequest, settings: Settings, make_client: Callable[..., TestClient]
) -> TestClient:
    return make_client(settings.model_copy(update={"readings_group_commit": request.param}))


def test_an_integral_number_is_an_integer(any_client: TestClient) -> None:
    # JSON Schema's `integer` includes 861.0; the service refused it (strict int).
    any_client.post("/v1/patterns", json={"id": "p-1", "pattern_type": "s", "pattern_name": "n"})
    created = any_client.post(
        "/v1/patterns/p-1/applications",
        json={"execution_id": "e", "pattern_led_to_success": True, "retry_count_after": 861.0},
    )
    assert created.status_code == 201, created.text
    assert created.json()["retry_count_after"] == 861
    reading = any_client.post(
        "/v1/jobs/job-1/entropy-readings",
        json={"entropy": 0.2, "policy": {"response": {"cooldown_seconds": 60.0}}},
    )
    assert reading.status_code == 201, reading.text
    policy = any_client.put("/v1/jobs/job-1/policy", json={"response": {"cooldown_seconds": 1e3}})
    assert policy.status_code == 200, policy.text
    assert policy.json()["response"]["cooldown_seconds"] == 1000
    selection = any_client.post(
        "/v1/jobs/job-1/selections", json={"execution_id": "e", "seed": 7.0}
    )
    assert selection.status_code == 201, selection.text


@pytest.mark.parametrize("value", [861.5, "861", True, 1e30])
def test_other_numbers_and_types_are_not_integers(any_client: TestClient, value: object) -> None:
    any_client.post("/v1/patterns", json={"id": "p-1", "pattern_type": "s", "pattern_name": "n"})
    refused = any_client.post(
        "/v1/patterns/p-1/applications",
        json={"execution_id": "e", "pattern_led_to_success": True, "retry_count_after": value},
    )
    assert refused.status_code == 422, refused.text
    reading = any_client.post(
        "/v1/jobs/job-1/entropy-readings",
        json={"entropy": 0.2, "policy": {"response": {"max_quarantine_revisits": value}}},
    )
    assert reading.status_code == 422, reading.text


@pytest.mark.parametrize(
    "value",
    ["0.5", "1700000000", "2026-03-01", "2026-03-01T12:00", "2026-03-01T12:00:00", "now"],
)
def test_time_bounds_are_rfc_3339_with_an_offset_only(client: TestClient, value: str) -> None:
    # pydantic read `until=0.5` as a Unix time (1970-01-01T00:00:00.5Z) and answered 200.
    for path in (
        "/v1/budget/history",
        "/v1/entropy-responses/history",
        "/v1/pattern-entropy/history",
    ):
        for name in ("since", "until"):
            response = client.get(path, params={name: value})
            assert response.status_code == 422, f"{path}?{name}={value}: {response.text}"
            assert response.json()["errors"][0]["loc"] == ["query", name]


@pytest.mark.parametrize(
    "value",
    ["2026-03-01T12:00:00Z", "2026-03-01T12:00:00.123456+02:00", "2026-03-01t12:00:00z"],
)
def test_rfc_3339_time_bounds_are_accepted(client: TestClient, value: str) -> None:
    assert client.get("/v1/budget/history", params={"since": value}).status_code == 200
