"""GET /metrics in one process: request metrics by route template, and domain metrics that
count exactly the committed records (every app in these tests has its own registry)."""

import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from app.core import idempotency
from app.core.settings import Settings
from app.main import create_app
from tests.api_helpers import (
    adjust_budget,
    apply_patterns,
    create_pattern,
    row_count,
    set_budget,
    trigger_response,
)
from tests.observability.scrape import (
    READINGS_ROUTE,
    Samples,
    by_label,
    delta,
    requests_of,
    scrape,
    series,
    value,
)
from tests.support import ManualClock

ADJUSTMENTS = "entropy_budget_budget_adjustments_total"
ADJUSTMENT_TYPES = {"initial", "decay", "boost", "floor_enforced", "ceiling_enforced", "manual"}
ClientFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def make_client(database_url: str, clock: ManualClock) -> ClientFactory:
    @contextmanager
    def make(**overrides: Any) -> Iterator[TestClient]:
        settings = Settings(database_url=database_url, **overrides)
        with TestClient(create_app(settings, clock=clock)) as test_client:
            yield test_client

    return make


def reading(client: TestClient, job_hash: str, entropy: float | None, **headers: str) -> Any:
    body = {} if entropy is None else {"entropy": entropy}
    return client.post(f"/v1/jobs/{job_hash}/entropy-readings", json=body, headers=headers)


def budget_types(engine: Engine) -> Counter[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT adjustment_type, COUNT(*) FROM exploration_budget GROUP BY 1")
        )
        return Counter(dict(rows.all()))


BATCHES = "entropy_budget_reading_batch_size"


def records(samples: Samples) -> dict[str, float]:
    """Every series derived from written records: not the HTTP ones (which count the scrapes
    too), nor the group-commit batch sizes (requests per writer transaction, any outcome)."""
    return {
        f"{name}{sorted(labels)}": v
        for (name, labels), v in samples.items()
        if not name.startswith(("entropy_budget_http_", BATCHES))
    }


# --- requests ------------------------------------------------------------------------------


def test_requests_are_counted_by_method_route_template_and_status(client: TestClient) -> None:
    for pattern_id in ("p-1", "p-2", "p-3"):
        assert client.get(f"/v1/patterns/{pattern_id}").status_code == 404
    for job in ("job-a", "job-b"):
        assert reading(client, job, 0.5).status_code == 201
    assert client.get("/no/such/path").status_code == 404
    assert client.get("/dashboard/static/dashboard.css").status_code == 200
    assert client.delete("/healthz").status_code == 405

    samples = scrape(client)

    assert requests_of(samples, "/v1/patterns/{pattern_id}", "GET", 404) == 3
    assert requests_of(samples, READINGS_ROUTE, "POST", 201) == 2
    assert requests_of(samples, "unmatched", "GET", 404) == 1
    assert requests_of(samples, "/dashboard/static/{path}", "GET", 200) == 1
    assert requests_of(samples, "/healthz", "DELETE", 405) == 1
    # No raw path is a label value: one series per template, whatever the ids.
    routes = {
        dict(labels)["route"] for labels in series(samples, "entropy_budget_http_requests_total")
    }
    assert not any(part in route for route in routes for part in ("p-1", "job-a", "no/such"))

    # The latency histogram has the same labels and counts, in its buckets too.
    histogram = "entropy_budget_http_request_duration_seconds"
    labels = {"method": "POST", "route": READINGS_ROUTE, "status": "201"}
    assert value(samples, f"{histogram}_count", **labels) == 2
    assert value(samples, f"{histogram}_bucket", le="+Inf", **labels) == 2
    assert 0 < value(samples, f"{histogram}_sum", **labels) < 10


def test_a_client_cannot_mint_method_labels(client: TestClient) -> None:
    assert client.request("BREW", "/healthz").status_code == 405

    samples = scrape(client)

    assert requests_of(samples, "/healthz", "other", 405) == 1
    assert "BREW" not in str(series(samples, "entropy_budget_http_requests_total"))


def test_a_scrape_counts_itself_only_afterwards(client: TestClient) -> None:
    first = scrape(client)
    second = scrape(client)

    assert requests_of(first, "/metrics", "GET", 200) == 0
    assert requests_of(second, "/metrics", "GET", 200) == 1


def test_an_unhandled_error_is_counted_as_the_500_it_answers(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("app.budget.service.budget_statistics", fail)
    with make_client() as client:
        client_500 = TestClient(client.app, raise_server_exceptions=False)
        response = client_500.get("/v1/budget/statistics", headers={"X-Request-ID": "bug-42"})
        assert response.status_code == 500
        assert response.headers["x-request-id"] == "bug-42"

        assert requests_of(scrape(client), "/v1/budget/statistics", "GET", 500) == 1


def test_metrics_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert "/metrics" not in paths
    assert {"/healthz", "/readyz"} <= set(paths)


# --- domain metrics ------------------------------------------------------------------------


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-by-one"])
def test_readings_count_exactly_the_records_they_committed(
    make_client: ClientFactory, engine: Engine, group_commit: bool
) -> None:
    with make_client(readings_group_commit=group_commit) as client:
        for entropy in (0.5, 0.2, 0.9):  # initial; boost + response boost; decay
            assert reading(client, "job-1", entropy).status_code == 201
        samples = scrape(client)
        latest = client.get("/v1/budget", params={"job_hash": "job-1"}).json()

    adjustments = by_label(samples, ADJUSTMENTS, "adjustment_type")
    assert set(adjustments) == ADJUSTMENT_TYPES  # every type exported from the start
    assert {k: v for k, v in adjustments.items() if v} == budget_types(engine)
    assert budget_types(engine) == {"initial": 1, "boost": 2, "decay": 1}
    assert value(samples, "entropy_budget_readings_total") == 3
    assert value(samples, "entropy_budget_entropy_responses_total") == row_count(
        engine, "entropy_responses"
    )
    assert value(samples, "entropy_budget_entropy_responses_total") == 1
    assert value(samples, "entropy_budget_job_budget", job_hash="job-1") == latest["budget_value"]
    batches = value(samples, "entropy_budget_reading_batch_size_count")
    if group_commit:
        assert value(samples, "entropy_budget_reading_batch_size_sum") == 3
        assert 1 <= batches <= 3
    else:
        assert batches == 0  # no group-commit writer


def test_a_failed_request_counts_nothing(client: TestClient, engine: Engine) -> None:
    assert reading(client, "job-1", 0.5).status_code == 201
    before = scrape(client)

    assert reading(client, "job-1", 5.0).status_code == 422  # refused by the route
    assert reading(client, "job-2", None).status_code == 422  # by the writer: no diversity
    assert client.post("/v1/budget/adjustments", json={"job_hash": "j"}).status_code == 422
    after = scrape(client)

    assert records(after) == records(before)
    assert requests_of(after, READINGS_ROUTE, "POST", 422) == 2
    assert row_count(engine, "exploration_budget") == 1
    # The second one did go through the writer, in a batch of its own.
    assert value(after, f"{BATCHES}_sum") - value(before, f"{BATCHES}_sum") == 1


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-by-one"])
def test_a_transaction_that_fails_after_writing_counts_nothing(
    make_client: ClientFactory,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    group_commit: bool,
) -> None:
    """The records are inserted (the chains flushed) and then the transaction fails: storing
    the idempotent response breaks. Nothing is committed, so nothing may be counted."""

    def broken_store(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT INTO idempotency_keys", {}, Exception("disk I/O error"))

    with make_client(readings_group_commit=group_commit) as client:
        before = scrape(client)
        monkeypatch.setattr(idempotency, "store", broken_store)
        key = {"Idempotency-Key": "k-1"}
        assert reading(client, "job-1", 0.2, **key).status_code == 503
        response = client.post(
            "/v1/budget/adjustments",
            json={"job_hash": "job-2", "current_entropy": 0.2},
            headers=key,
        )
        assert response.status_code == 503
        after = scrape(client)

    assert records(after) == records(before)
    assert value(after, f"{BATCHES}_count") == value(before, f"{BATCHES}_count")
    assert row_count(engine, "exploration_budget") == 0


def test_every_writer_of_budget_records_is_counted(client: TestClient, engine: Engine) -> None:
    create_pattern(client, "q-1", quarantine_status="quarantined")
    create_pattern(client, "q-2", quarantine_status="quarantined")
    adjust_budget(client, "job-1", 0.2)  # initial
    adjust_budget(client, "job-1", 0.2)  # boost
    adjust_budget(client, "job-1", 0.9)  # decay
    set_budget(client, "job-2", 0.9)  # ceiling_enforced
    set_budget(client, "job-2", 0.01)  # floor_enforced
    set_budget(client, "job-2", 0.2)  # manual
    response = trigger_response(client, "job-3", 0.1)  # boost + revisits

    samples = scrape(client)

    adjustments = {k: v for k, v in by_label(samples, ADJUSTMENTS, "adjustment_type").items() if v}
    assert adjustments == budget_types(engine)
    assert sum(adjustments.values()) == row_count(engine, "exploration_budget") == 7
    assert value(samples, "entropy_budget_entropy_responses_total") == 1
    assert value(samples, "entropy_budget_patterns_revisited_total") == 2
    assert sorted(response["patterns_revisited"]) == ["q-1", "q-2"]
    budgets = by_label(samples, "entropy_budget_job_budget", "job_hash")
    for job in ("job-1", "job-2", "job-3"):
        latest = client.get("/v1/budget", params={"job_hash": job}).json()
        assert budgets[job] == latest["budget_value"]
    assert value(samples, "entropy_budget_readings_total") == 0


def test_the_diversity_gauge_is_set_when_diversity_is_computed(client: TestClient) -> None:
    for pattern_id in ("a", "b"):
        create_pattern(client, pattern_id)
    apply_patterns(client, {"a": 3, "b": 1})

    measured = client.get("/v1/pattern-entropy").json()["diversity_index"]
    assert value(scrape(client), "entropy_budget_pattern_diversity") == measured
    assert 0 < measured < 1

    apply_patterns(client, {"b": 2})  # not measured yet: the gauge keeps the last value
    assert value(scrape(client), "entropy_budget_pattern_diversity") == measured
    assert reading(client, "job-1", None).status_code == 201  # a reading measures it
    assert value(scrape(client), "entropy_budget_pattern_diversity") == pytest.approx(1.0)


SCOPE_DIVERSITY = "entropy_budget_scope_diversity"
SCOPE_POLICIES: dict[str, dict[str, Any]] = {
    "job-hour": {"scope": "job", "half_life_seconds": 3600},
    "job-all-time": {"scope": "job", "half_life_seconds": None},
    "global-five-minutes": {"scope": "global", "half_life_seconds": 300},
    "global-all-time": {"scope": "global", "half_life_seconds": None},
}


def scope_labels(scope: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """The gauge's labels of an answer's scope (empty: every job, all-time)."""
    half_life = scope["half_life_seconds"]
    return frozenset(
        {
            ("job_hash", scope["job_hash"] or ""),
            ("half_life_seconds", "" if half_life is None else str(half_life)),
        }
    )


def random_applications(client: TestClient, clock: ManualClock, rng: random.Random) -> None:
    """Random applications of five patterns by every job of SCOPE_POLICIES (and by no job),
    spread over a few hours of the test clock."""
    for pattern_id in "abcde":
        create_pattern(client, pattern_id)
    for _ in range(4):
        items = [
            {
                "pattern_id": rng.choice("abcde"),
                "execution_id": f"exec-{n}",
                "pattern_led_to_success": True,
                **({"job_hash": job} if job else {}),
            }
            for n in range(rng.randint(5, 40))
            for job in [rng.choice([*SCOPE_POLICIES, None])]
        ]
        response = client.post("/v1/pattern-applications", json={"applications": items})
        assert response.status_code == 201, response.text
        clock.advance(rng.randint(60, 7200))


def store_diversity_policies(client: TestClient) -> None:
    for job_hash, diversity in SCOPE_POLICIES.items():
        response = client.put(f"/v1/jobs/{job_hash}/policy", json={"diversity": diversity})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("seed", [1, 2])
def test_each_policy_scope_reads_the_diversity_its_last_reading_answered_with(
    client: TestClient, clock: ManualClock, seed: int
) -> None:
    rng = random.Random(seed)
    random_applications(client, clock, rng)
    store_diversity_policies(client)

    answered: dict[frozenset[tuple[str, str]], float] = {}
    for job_hash in rng.sample(list(SCOPE_POLICIES), len(SCOPE_POLICIES)):
        body = reading(client, job_hash, None).json()
        answered[scope_labels(body["diversity"]["scope"])] = body["diversity"]["diversity_index"]
    # A reading's own override is the scope it measures: that scope gets its series.
    override = client.post(
        "/v1/jobs/job-hour/entropy-readings",
        json={"policy": {"diversity": {"scope": "global", "half_life_seconds": 86400}}},
    ).json()["diversity"]
    answered[scope_labels(override["scope"])] = override["diversity_index"]

    assert series(scrape(client), SCOPE_DIVERSITY) == answered
    assert set(answered) == {
        scope_labels({"job_hash": job, "half_life_seconds": half_life})
        for job, half_life in [
            ("job-hour", 3600),
            ("job-all-time", None),
            (None, 300),
            (None, None),
            (None, 86400),
        ]
    }

    clock.advance(rng.randint(60, 7200))  # the decayed scopes move on; the gauge follows
    collapse = [
        {
            "pattern_id": "a",
            "execution_id": f"late-{n}",
            "pattern_led_to_success": True,
            "job_hash": "job-hour",
        }
        for n in range(30)
    ]
    response = client.post("/v1/pattern-applications", json={"applications": collapse})
    assert response.status_code == 201, response.text
    later = reading(client, "job-hour", None).json()["diversity"]
    assert later["diversity_index"] != answered[scope_labels(later["scope"])]
    assert (
        value(scrape(client), SCOPE_DIVERSITY, job_hash="job-hour", half_life_seconds="3600")
        == later["diversity_index"]
    )


def test_only_readings_without_entropy_set_a_scope_and_no_read_mints_a_series(
    client: TestClient, clock: ManualClock
) -> None:
    random_applications(client, clock, random.Random(3))
    store_diversity_policies(client)

    assert reading(client, "job-hour", 0.5).status_code == 201  # entropy given: no scope
    for job_hash in ("job-hour", "any-name-at-all"):
        for half_life in ("", "300"):
            params = {"job_hash": job_hash, "half_life_seconds": half_life}
            query = {k: v for k, v in params.items() if v}
            assert client.get("/v1/pattern-entropy", params=query).status_code == 200
    assert reading(client, "nobody", None).status_code == 201  # the default: global all-time
    assert set(series(scrape(client), SCOPE_DIVERSITY)) == {
        scope_labels({"job_hash": None, "half_life_seconds": None})
    }


def test_job_scopes_are_dropped_with_the_budget_per_job(
    make_client: ClientFactory, clock: ManualClock
) -> None:
    with make_client(metrics_job_budgets=False) as client:
        random_applications(client, clock, random.Random(4))
        store_diversity_policies(client)
        answers = {job: reading(client, job, None).json()["diversity"] for job in SCOPE_POLICIES}
        samples = scrape(client)

    # Only the global scopes, one series per registered half-life at most, stay.
    assert series(samples, SCOPE_DIVERSITY) == {
        scope_labels(answers[job]["scope"]): answers[job]["diversity_index"]
        for job in ("global-five-minutes", "global-all-time")
    }


def test_the_budget_per_job_can_be_turned_off(make_client: ClientFactory) -> None:
    with make_client(metrics_job_budgets=False) as client:
        assert reading(client, "job-1", 0.5).status_code == 201
        samples = scrape(client)

    assert series(samples, "entropy_budget_job_budget") == {}
    assert value(samples, "entropy_budget_readings_total") == 1


def test_an_idempotent_replay_counts_no_new_record(client: TestClient) -> None:
    key = {"Idempotency-Key": "same"}
    assert reading(client, "job-1", 0.5, **key).status_code == 201
    before = scrape(client)

    replay = reading(client, "job-1", 0.5, **key)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    after = scrape(client)

    assert records(after) == records(before)
    assert all(
        name.startswith(("entropy_budget_http_", BATCHES)) for name, _ in delta(after, before)
    )


def test_the_worker_gauge_counts_this_process(client: TestClient) -> None:
    assert value(scrape(client), "entropy_budget_worker_processes") == 1
