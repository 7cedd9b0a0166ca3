"""GET/PUT /v1/jobs/{job_hash}/policy: server defaults, whole replacement, ETags, validation."""

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.orchestrator.helpers import (
    DEFAULT_POLICY,
    JOB,
    ClientFactory,
    Json,
    assert_problem,
    count_rows,
    error_locations,
    policy_url,
    put_policy,
    read,
    readings_url,
    selections_url,
    store_policy,
    table_rows,
    with_changes,
)

ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e]*"')


def current(client: TestClient, job_hash: str = JOB) -> tuple[Json, str]:
    """The job's policy and its ETag."""
    response = client.get(policy_url(job_hash))
    assert response.status_code == 200, response.text
    policy: Json = response.json()
    return policy, response.headers["etag"]


def test_a_job_without_a_policy_gets_the_server_defaults_with_an_etag(client: TestClient) -> None:
    policy, etag = current(client)

    assert policy == DEFAULT_POLICY
    assert ENTITY_TAG.fullmatch(etag)
    assert current(client)[1] == etag


def test_the_server_defaults_come_from_the_settings(
    client: TestClient, make_client: ClientFactory
) -> None:
    changed: Json = {
        "floor": 0.07,
        "ceiling": 0.6,
        "decay_rate": 0.9,
        "boost_amount": 0.2,
        "entropy_threshold": 0.4,
        "initial_budget": 0.25,
        "response": {
            "enabled": False,
            "threshold": 0.2,
            "cooldown_seconds": 60,
            "boost_budget": False,
            "revisit_quarantine": False,
            "max_quarantine_revisits": 7,
            "budget_boost_amount": 0.3,
        },
        "diversity": {"scope": "job", "half_life_seconds": 3600},
    }
    response_settings = {f"policy_response_{k}": v for k, v in changed["response"].items()}
    diversity_settings = {f"policy_diversity_{k}": v for k, v in changed["diversity"].items()}
    budget_settings = {
        f"policy_{k}": v for k, v in changed.items() if k not in {"response", "diversity"}
    }
    with make_client(**budget_settings, **response_settings, **diversity_settings) as configured:
        policy, etag = current(configured)
        first_reading = read(configured, 0.5)

    assert policy == changed
    assert etag != current(client)[1]
    assert first_reading["adjustment"]["budget_value"] == pytest.approx(0.25)
    assert first_reading["response_check"]["status"] == "disabled"


def test_put_replaces_the_whole_policy_and_absent_fields_take_the_defaults(
    client: TestClient,
) -> None:
    first_changes = {
        "floor": 0.1,
        "initial_budget": 0.2,
        "response": {"cooldown_seconds": 10, "enabled": False},
    }
    first = put_policy(client, first_changes)
    assert first.status_code == 200, first.text
    assert first.json() == with_changes(DEFAULT_POLICY, first_changes)

    second = put_policy(client, {"boost_amount": 0.2})

    assert second.status_code == 200, second.text
    assert second.json() == with_changes(DEFAULT_POLICY, {"boost_amount": 0.2})
    assert current(client)[0] == second.json()


def test_put_answers_with_the_new_etag_and_get_returns_it(client: TestClient) -> None:
    _defaults, default_etag = current(client)

    response = put_policy(client, {"boost_amount": 0.2})

    assert ENTITY_TAG.fullmatch(response.headers["etag"])
    assert response.headers["etag"] != default_etag
    assert current(client) == (response.json(), response.headers["etag"])


def test_the_etag_changes_on_every_put_even_with_the_same_content(client: TestClient) -> None:
    etags = [store_policy(client, {"boost_amount": 0.2}) for _ in range(3)]

    assert len(set(etags)) == 3
    assert current(client)[1] == etags[-1]


def test_a_put_without_if_match_replaces_an_existing_policy(client: TestClient) -> None:
    store_policy(client, {"boost_amount": 0.2})

    response = put_policy(client, {"boost_amount": 0.3})

    assert response.status_code == 200
    assert current(client)[0]["boost_amount"] == 0.3


def test_if_match_with_the_current_etag_replaces_the_policy(client: TestClient) -> None:
    etag = store_policy(client, {"boost_amount": 0.2})

    response = put_policy(client, {"boost_amount": 0.3}, if_match=etag)

    assert response.status_code == 200, response.text
    assert current(client) == (response.json(), response.headers["etag"])
    assert response.json()["boost_amount"] == 0.3


def test_if_match_with_the_etag_of_the_defaults_sets_the_first_policy(client: TestClient) -> None:
    _defaults, etag = current(client)

    response = put_policy(client, {"boost_amount": 0.3}, if_match=etag)

    assert response.status_code == 200, response.text
    assert current(client)[0]["boost_amount"] == 0.3


def test_if_match_with_a_stale_etag_is_412_and_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    stale = store_policy(client, {"boost_amount": 0.2})
    latest = store_policy(client, {"boost_amount": 0.3})
    before = table_rows(engine)

    response = put_policy(client, {"boost_amount": 0.4}, if_match=stale)

    assert_problem(response, 412)
    assert table_rows(engine) == before
    assert current(client) == (with_changes(DEFAULT_POLICY, {"boost_amount": 0.3}), latest)


def test_if_match_on_a_job_without_a_policy_is_412_unless_it_names_the_defaults(
    client: TestClient, engine: Engine
) -> None:
    other_jobs_etag = store_policy(client, {"boost_amount": 0.2}, job_hash="job-2")

    response = put_policy(client, {"boost_amount": 0.4}, if_match=other_jobs_etag)

    assert_problem(response, 412)
    assert current(client)[0] == DEFAULT_POLICY
    assert count_rows(engine, "job_policies") == 1


@pytest.mark.parametrize("stored", [True, False], ids=["stored-policy", "defaults"])
def test_if_match_star_matches_the_current_policy(client: TestClient, stored: bool) -> None:
    if stored:
        store_policy(client, {"boost_amount": 0.2})

    response = put_policy(client, {"boost_amount": 0.3}, if_match="*")

    assert response.status_code == 200, response.text
    assert current(client)[0]["boost_amount"] == 0.3


OUTSIDE_BOUNDS: list[Json] = [
    {"floor": 0.2, "initial_budget": 0.1},
    {"initial_budget": 0.6},
    {"floor": 0.2},  # the default initial budget, 0.15, falls below it
    {"ceiling": 0.1},  # ... or above this one
    {"floor": 0.4, "ceiling": 0.3, "initial_budget": 0.35},
]
INVALID_FIELDS: list[Json] = [
    {"decay_rate": 0},
    {"decay_rate": 1.01},
    {"floor": -0.01},
    {"boost_amount": 1.5},
    {"entropy_threshold": 1.5},
    {"response": {"threshold": 1.5}},
    {"response": {"cooldown_seconds": 31_536_001}},
    {"response": {"cooldown_seconds": -1}},
    {"response": {"max_quarantine_revisits": 101}},
    {"response": {"budget_boost_amount": 2}},
    {"surprise": 1},
    {"response": {"surprise": True}},
]
"""Bodies with one bad field each (its location: the path to the only leaf)."""


def leaf_location(body: Json) -> list[str]:
    (name, value), *_ = body.items()
    return [name, *leaf_location(value)] if isinstance(value, dict) else [name]


def test_initial_budget_outside_floor_and_ceiling_is_422_at_the_body_and_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    for body in OUTSIDE_BOUNDS:
        problem = assert_problem(put_policy(client, body), 422)
        assert error_locations(problem) == [["body"]], body

    assert count_rows(engine, "job_policies") == 0
    assert current(client)[0] == DEFAULT_POLICY


def test_an_out_of_range_or_unknown_field_is_422_naming_it_and_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    for body in INVALID_FIELDS:
        problem = assert_problem(put_policy(client, body), 422)
        assert ["body", *leaf_location(body)] in error_locations(problem), body

    assert count_rows(engine, "job_policies") == 0


def test_a_cooldown_of_exactly_one_year_is_accepted(client: TestClient) -> None:
    response = put_policy(client, {"response": {"cooldown_seconds": 31_536_000}})

    assert response.status_code == 200, response.text
    assert current(client)[0]["response"]["cooldown_seconds"] == 31_536_000


JobCall = tuple[str, Callable[[str], str], Json | None]
"""A method, the URL of a job's resource, and a body that would be valid."""


@pytest.mark.parametrize(
    "call",
    [
        ("GET", policy_url, None),
        ("PUT", policy_url, {}),
        ("POST", readings_url, {"entropy": 0.5}),
        ("POST", selections_url, {"execution_id": "exec-1"}),
    ],
    ids=["get-policy", "put-policy", "reading", "selection"],
)
def test_a_malformed_job_hash_is_422_on_every_job_endpoint(
    client: TestClient, engine: Engine, call: JobCall
) -> None:
    method, url, body = call
    before = table_rows(engine)

    for job_hash in ["has space", "x" * 129, "dollar$sign", "caf\u00e9"]:
        problem = assert_problem(client.request(method, url(job_hash), json=body), 422)
        assert ["path", "job_hash"] in error_locations(problem), job_hash

    assert table_rows(engine) == before
