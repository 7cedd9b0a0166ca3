from fastapi.testclient import TestClient

from tests.support import ManualClock


def adjust(client: TestClient, job_hash: str, entropy: float) -> None:
    response = client.post(
        "/v1/budget/adjustments", json={"job_hash": job_hash, "current_entropy": entropy}
    )
    assert response.status_code == 201


def test_jobs_are_listed_most_recently_active_first_with_their_current_budget(
    client: TestClient, clock: ManualClock
) -> None:
    adjust(client, "job-a", 0.5)
    clock.advance(1)
    adjust(client, "job-b", 0.5)
    clock.advance(1)
    adjust(client, "job-a", 0.1)  # boost: job-a is now the most recently active

    items = client.get("/v1/jobs").json()["items"]

    assert [item["job_hash"] for item in items] == ["job-a", "job-b"]
    assert items[0]["budget"]["adjustment_type"] == "boost"
    assert items[0]["budget"]["budget_value"] == 0.15 + 0.10
    assert items[1]["budget"]["adjustment_type"] == "initial"


def test_job_listing_pages_visit_every_job_once(client: TestClient) -> None:
    for number in range(7):
        adjust(client, f"job-{number}", 0.5)

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/jobs", params=params).json()
        seen += [item["job_hash"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == [f"job-{n}" for n in range(7)]
    assert seen == [f"job-{n}" for n in reversed(range(7))]  # same time: insertion order


def test_no_jobs_is_an_empty_page(client: TestClient) -> None:
    assert client.get("/v1/jobs").json() == {"items": [], "next_cursor": None}
