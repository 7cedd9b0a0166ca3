"""GET /v1/budget and GET /v1/budget/records/{id}."""

from fastapi.testclient import TestClient

from tests.api_helpers import adjust_budget, assert_problem, assert_rfc3339_utc, set_budget
from tests.support import ManualClock


def test_current_budget_is_the_latest_record_of_the_job(
    client: TestClient, clock: ManualClock
) -> None:
    adjust_budget(client, "job-a", 0.9)
    clock.advance(10)
    latest = adjust_budget(client, "job-a", 0.1)
    clock.advance(10)
    adjust_budget(client, "job-b", 0.9)
    response = client.get("/v1/budget", params={"job_hash": "job-a"})
    assert response.status_code == 200
    assert response.json() == latest


def test_current_budget_breaks_timestamp_ties_by_insertion(client: TestClient) -> None:
    set_budget(client, "job-a", 0.2)
    set_budget(client, "job-a", 0.3)
    latest = set_budget(client, "job-a", 0.25)
    assert client.get("/v1/budget", params={"job_hash": "job-a"}).json() == latest


def test_current_budget_without_job_is_the_latest_over_all_jobs(
    client: TestClient, clock: ManualClock
) -> None:
    adjust_budget(client, "job-a", 0.9)
    clock.advance(1)
    latest = adjust_budget(client, "job-b", 0.9)
    response = client.get("/v1/budget")
    assert response.status_code == 200
    assert response.json() == latest


def test_current_budget_with_empty_job_is_the_latest_over_all_jobs(client: TestClient) -> None:
    adjust_budget(client, "job-b", 0.9)
    latest = adjust_budget(client, "job-a", 0.9)  # same timestamp: insertion order decides
    response = client.get("/v1/budget", params={"job_hash": ""})
    assert response.status_code == 200
    assert response.json() == latest


def test_current_budget_is_404_problem_when_none(client: TestClient) -> None:
    assert_problem(client.get("/v1/budget", params={"job_hash": "job-a"}), 404)
    assert_problem(client.get("/v1/budget"), 404)


def test_current_budget_is_404_for_a_job_without_records(client: TestClient) -> None:
    adjust_budget(client, "job-a", 0.9)
    assert_problem(client.get("/v1/budget", params={"job_hash": "job-b"}), 404)


def test_current_budget_timestamp_is_rfc3339_utc(client: TestClient, clock: ManualClock) -> None:
    clock.advance(0.123456)
    adjust_budget(client, "job-a", 0.9)
    body = client.get("/v1/budget", params={"job_hash": "job-a"}).json()
    assert_rfc3339_utc(body["recorded_at"], clock.now)


def test_record_by_id_returns_the_record(client: TestClient) -> None:
    first = adjust_budget(client, "job-a", 0.9)
    adjust_budget(client, "job-a", 0.1)
    response = client.get(f"/v1/budget/records/{first['id']}")
    assert response.status_code == 200
    assert response.json() == first


def test_unknown_record_id_is_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/v1/budget/records/no-such-record"), 404)
