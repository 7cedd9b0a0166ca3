"""POST /v1/jobs/{job_hash}/selections and PATCH /v1/pattern-applications/{id}.

A budget of 1.0 makes every pick explore and 0.0 every pick exploit (a draw in [0, 1) is
compared with the budget), so the two rules can be checked one at a time.
"""

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.orchestrator.helpers import (
    JOB,
    Json,
    apply_pattern,
    assert_problem,
    clear_tables,
    count_rows,
    create_pattern,
    error_locations,
    get_pattern,
    read,
    report_outcome,
    select,
    selected,
    set_budget,
    store_policy,
    table_rows,
)

ALWAYS_EXPLORE = 1.0
ALWAYS_EXPLOIT = 0.0


def picks(client: TestClient, seeds: range, **body: Any) -> list[tuple[str, str]]:
    """(pattern_id, mode) of one selection per seed, in order."""
    results = [selected(client, seed=seed, **body) for seed in seeds]
    return [(result["pattern_id"], result["mode"]) for result in results]


def with_outcomes(
    client: TestClient, pattern_id: str, outcomes: Sequence[bool | None]
) -> list[str]:
    """Applications recorded with an unknown outcome, then reported with PATCH."""
    ids = apply_pattern(client, pattern_id, len(outcomes), success=None) if outcomes else []
    for application_id, outcome in zip(ids, outcomes, strict=True):
        if outcome is not None:
            assert report_outcome(client, application_id, outcome).status_code == 200
    return ids


def test_a_selection_records_an_application_with_an_unknown_outcome(client: TestClient) -> None:
    create_pattern(client, "p-1")

    response = select(client, execution_id="exec-42", seed=0)

    assert response.status_code == 201, response.text
    result = response.json()
    assert set(result) == {"pattern_id", "application_id", "mode", "budget_value"}
    assert result["pattern_id"] == "p-1"
    assert result["mode"] in {"explore", "exploit"}
    assert response.headers["location"] == f"/v1/pattern-applications/{result['application_id']}"
    application = client.get(response.headers["location"]).json()
    assert application["id"] == result["application_id"]
    assert application["pattern_id"] == "p-1"
    assert application["execution_id"] == "exec-42"
    assert application["job_hash"] == JOB
    assert application["pattern_led_to_success"] is None
    pattern = get_pattern(client, "p-1")
    assert (pattern["application_count"], pattern["success_count"]) == (1, 0)


def test_the_budget_value_is_the_jobs_current_budget(client: TestClient) -> None:
    create_pattern(client, "p-1")
    set_budget(client, 0.3)
    set_budget(client, 0.45, job_hash="job-2")

    assert selected(client)["budget_value"] == pytest.approx(0.3)
    read(client, 0.5)  # decays 0.3
    assert selected(client)["budget_value"] == pytest.approx(0.3 * 0.95)


@pytest.mark.parametrize("policy", [{}, {"initial_budget": 0.25}], ids=["defaults", "stored"])
def test_without_a_budget_the_policys_initial_budget_is_used_and_none_is_written(
    client: TestClient, engine: Engine, policy: Json
) -> None:
    create_pattern(client, "p-1")
    if policy:
        store_policy(client, policy)
    set_budget(client, 0.45, job_hash="job-2")

    result = selected(client)

    assert result["budget_value"] == pytest.approx(policy.get("initial_budget", 0.15))
    assert count_rows(engine, "exploration_budget") == 1  # job-2's only


def test_retired_and_quarantined_patterns_are_never_picked(client: TestClient) -> None:
    # Both excluded patterns would win either rule: fewest applications, best success rate.
    for pattern_id, status in [("retired", "retired"), ("quarantined", "quarantined")]:
        create_pattern(client, pattern_id, status)
        apply_pattern(client, pattern_id, 1, success=True)
    for pattern_id, status in [("pending", "pending"), ("validated", "validated")]:
        create_pattern(client, pattern_id, status)
        apply_pattern(client, pattern_id, 3, success=False)
    set_budget(client, 0.5)

    chosen = picks(client, range(20))

    assert {pattern_id for pattern_id, _mode in chosen} <= {"pending", "validated"}


@pytest.mark.parametrize(
    ("statuses", "candidates"),
    [
        ({}, None),
        ({"r": "retired", "q": "quarantined"}, None),
        ({"r": "retired", "q": "quarantined", "ok": "pending"}, ["r", "q"]),
    ],
    ids=["no-patterns", "all-excluded", "candidates-excluded"],
)
def test_no_eligible_pattern_is_a_409_problem_and_writes_nothing(
    client: TestClient, engine: Engine, statuses: dict[str, str], candidates: list[str] | None
) -> None:
    for pattern_id, status in statuses.items():
        create_pattern(client, pattern_id, status)
    before = table_rows(engine)
    body: Json = {} if candidates is None else {"candidates": candidates}

    assert_problem(select(client, **body), 409)
    assert table_rows(engine) == before


def test_an_unknown_candidate_is_422_naming_it_and_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    create_pattern(client, "p-1")
    before = table_rows(engine)

    problem = assert_problem(select(client, candidates=["p-1", "ghost"]), 422)

    assert "ghost" in problem["detail"]
    assert ["body", "candidates", 1] in error_locations(problem)
    assert table_rows(engine) == before


def test_candidates_restrict_the_pick(client: TestClient) -> None:
    for pattern_id in ["a", "b", "c"]:
        create_pattern(client, pattern_id)
    set_budget(client, 0.5)

    chosen = picks(client, range(20), candidates=["b", "c"])

    assert {pattern_id for pattern_id, _mode in chosen} == {"b", "c"}


def test_explore_picks_the_least_applied_eligible_pattern(client: TestClient) -> None:
    for pattern_id, applications in [("a", 3), ("b", 1), ("c", 2)]:
        create_pattern(client, pattern_id)
        apply_pattern(client, pattern_id, applications)
    create_pattern(client, "never-applied-but-quarantined", "quarantined")
    set_budget(client, ALWAYS_EXPLORE)

    # b (1) is picked and reaches 2, then the tie b/c (2, 2) goes to either, and so on.
    first = selected(client, seed=0)
    second = selected(client, seed=0)

    assert (first["pattern_id"], first["mode"]) == ("b", "explore")
    assert first["budget_value"] == pytest.approx(1.0)
    assert (second["pattern_id"], second["mode"]) in {("b", "explore"), ("c", "explore")}
    assert get_pattern(client, "b")["application_count"] == 2 + (second["pattern_id"] == "b")


def test_exploit_picks_the_best_success_rate_among_known_outcomes(client: TestClient) -> None:
    create_pattern(client, "a")
    create_pattern(client, "b")
    create_pattern(client, "c")
    a_ids = with_outcomes(client, "a", [True, None, None, None])  # 1 of 1 known: 1.0
    with_outcomes(client, "b", [True, True, True, False])  # 3 of 4: 0.75
    with_outcomes(client, "c", [None, None])  # nothing known yet: 0
    set_budget(client, ALWAYS_EXPLOIT)

    best = selected(client, seed=0)
    assert report_outcome(client, a_ids[0], False).status_code == 200  # a now 0 of 1
    after_correction = selected(client, seed=0)

    assert (best["pattern_id"], best["mode"]) == ("a", "exploit")
    assert (after_correction["pattern_id"], after_correction["mode"]) == ("b", "exploit")


def test_exploit_ties_are_broken_by_the_seed(client: TestClient) -> None:
    for pattern_id in ["a", "b", "c"]:
        create_pattern(client, pattern_id)
        with_outcomes(client, pattern_id, [True, False])  # all at 0.5
    set_budget(client, ALWAYS_EXPLOIT)  # picks add unknown outcomes: the rates stay put

    first = picks(client, range(12))
    again = picks(client, range(12))

    assert first == again
    assert {pattern_id for pattern_id, _mode in first} == {"a", "b", "c"}


def test_the_same_seed_on_the_same_state_makes_the_same_picks(
    client: TestClient, engine: Engine
) -> None:
    def build_state() -> None:
        for pattern_id, outcomes in [("a", [True, True, False]), ("b", [True]), ("c", [])]:
            create_pattern(client, pattern_id)
            with_outcomes(client, pattern_id, outcomes)
        set_budget(client, 0.5)

    build_state()
    first = picks(client, range(16))
    clear_tables(engine)
    build_state()
    second = picks(client, range(16))

    assert first == second
    assert {mode for _pattern_id, mode in first} == {"explore", "exploit"}


def test_selections_explore_at_the_rate_of_the_jobs_budget(client: TestClient) -> None:
    create_pattern(client, "a")
    create_pattern(client, "b")
    assert client.post(
        "/v1/budget", json={"job_hash": JOB, "budget_value": 0.3, "adjustment_type": "manual"}
    ).is_success

    modes = Counter(mode for _pattern_id, mode in picks(client, range(400)))

    assert abs(modes["explore"] / 400 - 0.3) <= 0.075


def test_reporting_an_outcome_updates_the_success_count_and_a_correction_moves_it_back(
    client: TestClient,
) -> None:
    create_pattern(client, "p-1")
    application_id = selected(client)["application_id"]

    counts = []
    for outcome in [True, False, True, None]:
        response = report_outcome(client, application_id, outcome)
        assert response.status_code == 200, response.text
        assert response.json()["pattern_led_to_success"] is outcome
        pattern = get_pattern(client, "p-1")
        counts.append((pattern["application_count"], pattern["success_count"]))

    assert counts == [(1, 1), (1, 0), (1, 1), (1, 0)]
    stored = client.get(f"/v1/pattern-applications/{application_id}").json()
    assert stored["pattern_led_to_success"] is None


def test_reporting_the_outcome_of_an_unknown_application_is_404(
    client: TestClient, engine: Engine
) -> None:
    create_pattern(client, "p-1")
    before = table_rows(engine)

    assert_problem(report_outcome(client, "no-such-application", True), 404)
    assert table_rows(engine) == before
