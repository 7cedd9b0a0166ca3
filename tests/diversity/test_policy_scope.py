"""A job's policy names the diversity scope its readings measure (when they carry no entropy)
and its selections explore by: part of PUT/GET/ETag, of per-reading overrides, and reset to
all-time when its half-life is dropped."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.diversity.test_half_lives import diversity_cli  # noqa: F401 (a fixture)
from tests.orchestrator.helpers import (
    DEFAULT_POLICY,
    create_pattern,
    policy_url,
    put_policy,
    readings_url,
    select,
    set_budget,
    store_policy,
    table_rows,
)
from tests.support import ManualClock

JOB_SCOPE = {"scope": "job", "half_life_seconds": 300}


def apply(client: TestClient, pattern_id: str, times: int, job_hash: str | None) -> None:
    items = [
        {
            "pattern_id": pattern_id,
            "execution_id": f"exec-{n}",
            "pattern_led_to_success": True,
            **({"job_hash": job_hash} if job_hash else {}),
        }
        for n in range(times)
    ]
    response = client.post("/v1/pattern-applications", json={"applications": items})
    assert response.status_code == 201, response.text


def collapsed_job(client: TestClient, clock: ManualClock) -> None:
    """Four patterns balanced over a long history (other jobs), then job-a collapses: for its
    last hour it applies `a` only, after a balanced past of its own."""
    for pattern_id in "abcd":
        create_pattern(client, pattern_id)
        apply(client, pattern_id, 50, "other")
        apply(client, pattern_id, 5, "job-a")
    clock.advance(3 * 3600)
    for _ in range(6):
        apply(client, "a", 5, "job-a")
        clock.advance(600)


def reading_without_entropy(
    client: TestClient, job_hash: str = "job-a", policy: dict[str, Any] | None = None
) -> Any:
    body = {} if policy is None else {"policy": policy}
    return client.post(readings_url(job_hash), json=body)


def test_the_policy_carries_its_diversity_scope_in_put_get_and_etag(client: TestClient) -> None:
    default_etag = client.get(policy_url("job-a")).headers["etag"]
    etag = store_policy(client, {"diversity": JOB_SCOPE}, job_hash="job-a")
    got = client.get(policy_url("job-a"))
    assert got.json() == {**DEFAULT_POLICY, "diversity": JOB_SCOPE}
    assert got.headers["etag"] == etag != default_etag

    # PUT replaces the whole policy: the diversity part too.
    store_policy(client, {"floor": 0.1}, job_hash="job-a")
    assert client.get(policy_url("job-a")).json()["diversity"] == DEFAULT_POLICY["diversity"]


def test_a_policy_naming_an_unregistered_half_life_is_a_422_and_changes_nothing(
    client: TestClient,
) -> None:
    response = put_policy(
        client, {"diversity": {"scope": "job", "half_life_seconds": 600}}, job_hash="job-a"
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["loc"] == ["body", "diversity", "half_life_seconds"]
    assert "registered: 300, 3600, 86400" in error["msg"]
    assert client.get(policy_url("job-a")).json() == DEFAULT_POLICY


def test_a_reading_without_entropy_measures_the_policy_scope_and_says_which(
    client: TestClient, clock: ManualClock
) -> None:
    collapsed_job(client, clock)
    store_policy(client, {"diversity": JOB_SCOPE}, job_hash="job-a")

    response = reading_without_entropy(client)
    assert response.status_code == 201, response.text
    result = response.json()
    scope = client.get(
        "/v1/pattern-entropy", params={"job_hash": "job-a", "half_life_seconds": 300}
    ).json()
    assert result["diversity"] == {
        "scope": {"job_hash": "job-a", "half_life_seconds": 300},
        "diversity_index": scope["diversity_index"],
        "effective_pattern_count": scope["effective_pattern_count"],
        "weighted_applications": scope["weighted_applications"],
    }
    assert result["adjustment"]["entropy_at_time"] == scope["diversity_index"]
    # The collapse shows in the job's recent applications, not in the global all-time view.
    assert (
        scope["diversity_index"] < 0.3 < client.get("/v1/pattern-entropy").json()["diversity_index"]
    )
    assert result["response_check"]["status"] == "below_threshold"


def test_a_reading_overrides_the_scope_for_itself_only(
    client: TestClient, clock: ManualClock
) -> None:
    collapsed_job(client, clock)
    store_policy(client, {"diversity": JOB_SCOPE}, job_hash="job-a")

    all_time = reading_without_entropy(client, policy={"diversity": {"half_life_seconds": None}})
    assert all_time.status_code == 201, all_time.text
    assert all_time.json()["diversity"]["scope"] == {"job_hash": "job-a", "half_life_seconds": None}
    expected = client.get("/v1/pattern-entropy", params={"job_hash": "job-a"}).json()
    assert all_time.json()["diversity"]["diversity_index"] == expected["diversity_index"]

    global_scope = reading_without_entropy(client, policy={"diversity": {"scope": "global"}})
    assert global_scope.json()["diversity"]["scope"] == {"job_hash": None, "half_life_seconds": 300}

    # The stored policy is unchanged.
    assert client.get(policy_url("job-a")).json()["diversity"] == JOB_SCOPE


def test_an_override_naming_an_unregistered_half_life_is_a_422_and_writes_nothing(
    client: TestClient, clock: ManualClock, engine: Engine
) -> None:
    collapsed_job(client, clock)
    before = table_rows(engine)
    for body in (
        {"policy": {"diversity": {"half_life_seconds": 7}}},
        {"entropy": 0.5, "policy": {"diversity": {"half_life_seconds": 7}}},
    ):
        response = client.post(readings_url("job-a"), json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == [
            "body",
            "policy",
            "diversity",
            "half_life_seconds",
        ]
    assert table_rows(engine) == before


def test_no_application_in_the_job_scope_is_a_422(client: TestClient) -> None:
    create_pattern(client, "a")
    apply(client, "a", 3, "other-job")
    store_policy(client, {"diversity": {"scope": "job"}}, job_hash="job-a")
    response = reading_without_entropy(client)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "entropy"]
    # The global scope has applications to measure.
    assert reading_without_entropy(client, "job-b").status_code == 201


@pytest.mark.parametrize(
    ("diversity", "explored"),
    [
        (None, "rare"),  # the seed: the fewest applications of any job
        ({"scope": "job"}, "fresh"),  # the job never applied `fresh`
        ({"scope": "global", "half_life_seconds": 300}, "old"),  # `old` faded away
    ],
)
def test_selections_explore_the_least_weight_in_the_policy_scope(
    client: TestClient, clock: ManualClock, diversity: dict[str, Any] | None, explored: str
) -> None:
    for pattern_id in ("rare", "fresh", "old"):
        create_pattern(client, pattern_id)
    apply(client, "old", 40, "job-a")
    clock.advance(20 * 300)
    apply(client, "rare", 3, "job-a")
    apply(client, "fresh", 10, "other")
    if diversity is not None:
        store_policy(client, {"diversity": diversity}, job_hash="job-a")
    set_budget(client, 1.0, job_hash="job-a")  # always explore

    response = select(client, job_hash="job-a", seed=3)
    assert response.status_code == 201, response.text
    assert (response.json()["mode"], response.json()["pattern_id"]) == ("explore", explored)


def test_dropping_a_half_life_resets_the_policies_that_name_it_to_all_time(
    client: TestClient,
    engine: Engine,
    diversity_cli: Callable[..., Any],  # noqa: F811
) -> None:
    etag = store_policy(client, {"diversity": JOB_SCOPE}, job_hash="job-a")
    store_policy(client, {"diversity": {"half_life_seconds": 3600}}, job_hash="job-b")

    result = diversity_cli("drop", "300")
    assert result.exit_code == 0, result.output
    assert "1 job policies" in result.output

    reset = client.get(policy_url("job-a"))
    assert reset.json()["diversity"] == {"scope": "job", "half_life_seconds": None}
    assert reset.headers["etag"] != etag
    assert client.get(policy_url("job-b")).json()["diversity"]["half_life_seconds"] == 3600
    with engine.connect() as connection:
        versions = dict(
            connection.execute(text("SELECT job_hash, policy_version FROM job_heads")).all()
        )
    assert versions["job-a"] == 2
