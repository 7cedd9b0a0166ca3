"""`entropy show|history|snapshot` and `responses check|trigger|history|stats`."""

import json
import math

import httpx
import pytest

from tests.cli.helpers import (
    Invoke,
    apply_pattern,
    create_pattern,
    invoke_cli,
    ok,
    table_field,
)

pytestmark = pytest.mark.e2e

WITHOUT_TIME = "calculated_at"


def seed_patterns(api: httpx.Client, job: str) -> None:
    """Applications 3:1 over two patterns: H = 0.811278 bits, dominant share 0.75."""
    create_pattern(api, f"{job}-big")
    create_pattern(api, f"{job}-small")
    apply_pattern(api, f"{job}-big", 3, job)
    apply_pattern(api, f"{job}-small", 1, job)


def test_entropy_show_measures_the_current_diversity(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    seed_patterns(api, job)

    table = ok(run("entropy", "show", "--alert-threshold", "0.9")).stdout
    as_json = json.loads(ok(run("entropy", "show", "--json")).stdout)

    assert table_field(table, "shannon_entropy") == "0.811278"
    assert table_field(table, "diversity_index") == "0.811278"
    assert table_field(table, "dominant_pattern_share") == "0.75"
    assert table_field(table, "threshold_exceeded") == "yes"
    expected = api.get("/v1/pattern-entropy").json()
    assert as_json.pop(WITHOUT_TIME) <= expected.pop(WITHOUT_TIME)  # measured at each call
    assert as_json == expected
    assert as_json["total_applications"] == 4


def entropy_of(counts: list[int]) -> float:
    """The reference: Shannon entropy of the counts over log2 of how many there are."""
    total = sum(counts)
    bits = -sum(c / total * math.log2(c / total) for c in counts if c)
    return bits / math.log2(len(counts))


HALF_LIVES = ("300", "3600")


@pytest.fixture
def half_lives(database_url: str) -> None:
    """Register the half-lives on this machine's database, as an operator does (the tables,
    registered half-lives included, are emptied before each test)."""
    ok(invoke_cli("diversity", "fill", *HALF_LIVES, env={"DATABASE_URL": database_url}))


@pytest.mark.usefixtures("half_lives")
def test_entropy_show_measures_a_jobs_scope_the_global_view_hides(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    """Another job balanced over two patterns; `job` almost always applies one of them."""
    create_pattern(api, f"{job}-big")
    create_pattern(api, f"{job}-small")
    other = f"{job}-other"
    for pattern_id in (f"{job}-big", f"{job}-small"):
        apply_pattern(api, pattern_id, 12, other)
    apply_pattern(api, f"{job}-big", 7, job)
    apply_pattern(api, f"{job}-small", 1, job)

    global_view = ok(run("entropy", "show")).stdout
    job_view = ok(run("entropy", "show", "--job", job)).stdout
    decayed = json.loads(
        ok(run("entropy", "show", "-j", job, "--half-life", "300", "--json")).stdout
    )

    assert "Pattern diversity: every job, all-time" in global_view
    assert float(table_field(global_view, "diversity_index")) == pytest.approx(
        entropy_of([19, 13]), abs=1e-6
    )
    assert f"Pattern diversity: job {job}, all-time" in job_view
    assert float(table_field(job_view, "diversity_index")) == pytest.approx(
        entropy_of([7, 1]), abs=1e-6
    )
    assert table_field(job_view, "total_applications") == "8"
    assert table_field(job_view, "effective_pattern_count") == "2"
    expected = api.get(
        "/v1/pattern-entropy", params={"job_hash": job, "half_life_seconds": 300}
    ).json()
    assert decayed["scope"] == {"job_hash": job, "half_life_seconds": 300}
    # Shares do not depend on the time of measurement; the total weight decays a little.
    for figure in ("diversity_index", "effective_pattern_count", "total_applications"):
        assert decayed[figure] == expected[figure]
    assert decayed["weighted_applications"] == pytest.approx(
        expected["weighted_applications"], rel=0.01
    )
    assert decayed["weighted_applications"] <= 8


@pytest.mark.usefixtures("half_lives")
def test_entropy_show_with_an_unregistered_half_life_names_the_registered_and_exits_1(
    run: Invoke, api: httpx.Client
) -> None:
    result = run("entropy", "show", "--half-life", "600")
    problem = api.get("/v1/pattern-entropy", params={"half_life_seconds": 600}).json()

    assert result.exit_code == 1
    assert result.stdout == ""
    (error,) = problem["errors"]
    assert error["msg"] == (
        f"half-life 600 s is not registered (registered: {', '.join(HALF_LIVES)})"
    )
    assert f"  query.half_life_seconds: {error['msg']}" in result.stderr.splitlines()


def test_entropy_snapshot_records_and_history_lists_them(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    seed_patterns(api, job)

    snapshot = json.loads(ok(run("entropy", "snapshot", "--json")).stdout)
    second = ok(run("entropy", "snapshot", "--alert-threshold", "0.9")).stdout
    history = json.loads(ok(run("entropy", "history", "--json")).stdout)
    table = ok(run("entropy", "history")).stdout

    assert snapshot == api.get(f"/v1/pattern-entropy/snapshots/{snapshot['id']}").json()
    assert snapshot["diversity_index"] == pytest.approx(0.811278, abs=1e-6)
    assert "Snapshot " in second
    assert history == api.get("/v1/pattern-entropy/history").json()
    assert [item["threshold_exceeded"] for item in history["items"]] == [True, False]
    assert "Diversity snapshots (2 records)" in table
    assert table.count("0.811278") == 4  # diversity and bits, two snapshots


def test_responses_check_says_whether_a_response_is_needed(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    no_data = ok(run("responses", "check", "--job", job)).stdout
    seed_patterns(api, job)
    low = json.loads(
        ok(run("responses", "check", "-j", job, "--threshold", "0.9", "--json")).stdout
    )
    expected = api.get(
        "/v1/entropy-responses/check", params={"job_hash": job, "entropy_threshold": 0.9}
    ).json()

    assert table_field(no_data, "status") == "no_data"
    assert table_field(no_data, "current_entropy") == "-"
    assert low == expected
    assert (low["needs_response"], low["status"]) == (True, "below_threshold")


def test_responses_trigger_boosts_and_revisits_then_history_and_stats(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    for name in ("old", "new"):
        create_pattern(api, f"{job}-{name}", status="quarantined")

    table = ok(
        run("responses", "trigger", "-j", job, "--entropy", "0.2", "--max-revisits", "1")
    ).stdout
    history = json.loads(ok(run("responses", "history", "-j", job, "--json")).stdout)
    stats_table = ok(run("responses", "stats", "-j", job)).stdout
    stats = json.loads(ok(run("responses", "stats", "-j", job, "--json")).stdout)

    (response,) = history["items"]
    assert response == api.get("/v1/entropy-responses/latest", params={"job_hash": job}).json()
    assert response["actions_taken"] == ["budget_boost", "quarantine_revisit"]
    assert response["patterns_revisited"] == [f"{job}-new"]  # most recently seen first
    assert "budget_boost, quarantine_revisit" in table
    budget = api.get("/v1/budget", params={"job_hash": job}).json()
    assert (budget["budget_value"], budget["adjustment_type"]) == (0.25, "boost")
    revisited = api.get(f"/v1/patterns/{job}-new").json()
    assert revisited["quarantine_status"] == "pending"
    assert history == api.get("/v1/entropy-responses/history", params={"job_hash": job}).json()
    assert stats == api.get("/v1/entropy-responses/statistics", params={"job_hash": job}).json()
    assert stats["total_responses"] == 1
    assert table_field(stats_table, "avg_entropy_at_trigger") == "0.2"
    assert table_field(stats_table, "quarantine_revisits") == "1"


def test_responses_trigger_refuses_an_entropy_out_of_range_before_sending(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    result = run("responses", "trigger", "-j", job, "--entropy", "1.5")

    assert result.exit_code == 2
    assert "entropy_at_trigger" in result.stderr
    assert api.get("/v1/entropy-responses/statistics").json()["total_responses"] == 0
