"""job_hash (and pattern id) rule: 1-128 chars of [A-Za-z0-9._:-], never "." or "..".
On writes it is enforced; as a read filter an empty value means every job."""

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.patterns.helpers import (
    application_body,
    assert_problem,
    batch_items,
    create_pattern,
    first_loc,
    nothing_written,
    post_batch,
)

VALID = ["a", "Z", "0", "job-1", "a.b", "a:b", "a_b", "...", "-", "x" * 128, "Az09._:-"]
INVALID = [
    "",
    ".",
    "..",
    "x" * 129,
    "a b",
    "a/b",
    "a\\b",
    "a+b",
    "a%b",
    "caf\u00e9",
    "a\u0000",
    "a\n",
    " a",
]
FILTERED_READS = [
    "/v1/budget",
    "/v1/budget/history",
    "/v1/budget/statistics",
    "/v1/entropy-responses/latest",
    "/v1/entropy-responses/history",
    "/v1/entropy-responses/statistics",
]


def adjust(client: TestClient, job_hash: str) -> httpx.Response:
    return client.post(
        "/v1/budget/adjustments", json={"job_hash": job_hash, "current_entropy": 0.5}
    )


def history_jobs(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/v1/budget/history", params=params)
    assert response.status_code == 200, response.text
    return sorted(item["job_hash"] for item in response.json()["items"])


def test_valid_job_hashes_are_accepted_on_a_write(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    for job_hash in VALID:
        with subtests.test(job_hash=job_hash):
            response = adjust(client, job_hash)
            assert response.status_code == 201, response.text
            assert response.json()["job_hash"] == job_hash
            assert history_jobs(client, job_hash=job_hash) == [job_hash]


def test_invalid_job_hashes_are_422_on_a_write_and_write_nothing(
    client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    for job_hash in INVALID:
        with subtests.test(job_hash=job_hash), nothing_written(engine):
            problem = assert_problem(adjust(client, job_hash), 422)
            assert first_loc(problem) == ["body", "job_hash"]


def test_job_hash_is_required_on_a_budget_write(client: TestClient, engine: Engine) -> None:
    with nothing_written(engine):
        response = client.post("/v1/budget/adjustments", json={"current_entropy": 0.5})
        assert first_loc(assert_problem(response, 422)) == ["body", "job_hash"]


def test_invalid_job_hashes_on_applications_are_422_and_write_nothing(
    client: TestClient, engine: Engine, subtests: pytest.Subtests
) -> None:
    create_pattern(client, id="p")
    for job_hash in INVALID:
        with subtests.test(job_hash=job_hash), nothing_written(engine):
            response = client.post(
                "/v1/patterns/p/applications", json=application_body(job_hash=job_hash)
            )
            assert first_loc(assert_problem(response, 422)) == ["body", "job_hash"]
            items = batch_items(["p"])
            items[0]["job_hash"] = job_hash
            problem = assert_problem(post_batch(client, items), 422)
            assert first_loc(problem) == ["body", "applications", 0, "job_hash"]


def test_valid_job_hashes_on_applications_are_kept(client: TestClient) -> None:
    create_pattern(client, id="p")
    for job_hash in ("x" * 128, "...", "job:1"):
        body = application_body(job_hash=job_hash)
        response = client.post("/v1/patterns/p/applications", json=body)
        assert response.status_code == 201
        assert response.json()["job_hash"] == job_hash


def test_invalid_job_hash_filters_are_422(client: TestClient, subtests: pytest.Subtests) -> None:
    for path in FILTERED_READS:
        for job_hash in INVALID[1:]:
            with subtests.test(path=path, job_hash=job_hash):
                problem = assert_problem(client.get(path, params={"job_hash": job_hash}), 422)
                assert first_loc(problem) == ["query", "job_hash"]


def test_valid_job_hash_filters_are_accepted(client: TestClient, subtests: pytest.Subtests) -> None:
    # The current budget and the latest response are 404 when there is none: still a valid query.
    for path in FILTERED_READS:
        for job_hash in ("", "x" * 128, "...", "job:1"):
            with subtests.test(path=path, job_hash=job_hash):
                response = client.get(path, params={"job_hash": job_hash})
                assert response.status_code in {200, 404}, response.text
                if response.status_code == 404:
                    assert_problem(response, 404)


def test_empty_job_hash_filter_means_every_job(client: TestClient) -> None:
    for job_hash in ("job-a", "job-b"):
        assert adjust(client, job_hash).status_code == 201
    assert history_jobs(client, job_hash="") == ["job-a", "job-b"]
    assert history_jobs(client) == ["job-a", "job-b"]
    assert history_jobs(client, job_hash="job-a") == ["job-a"]
    assert history_jobs(client, job_hash="x" * 128) == []
    everything = client.get("/v1/budget/statistics", params={"job_hash": ""}).json()
    assert everything["total_adjustments"] == 2


def test_the_check_needs_exactly_one_valid_job(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    for job_hash in ("", ".", "..", "x" * 129, "a b"):
        with subtests.test(job_hash=job_hash):
            response = client.get("/v1/entropy-responses/check", params={"job_hash": job_hash})
            assert first_loc(assert_problem(response, 422)) == ["query", "job_hash"]
    assert_problem(client.get("/v1/entropy-responses/check"), 422)
