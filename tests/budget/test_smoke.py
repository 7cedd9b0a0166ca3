from fastapi.testclient import TestClient


def test_first_adjustment_writes_the_initial_budget(client: TestClient) -> None:
    response = client.post(
        "/v1/budget/adjustments", json={"job_hash": "job-a", "current_entropy": 0.9}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["budget_value"], body["adjustment_type"]) == (0.15, "initial")
    assert response.headers["location"] == f"/v1/budget/records/{body['id']}"
    assert client.get(response.headers["location"]).json() == body
