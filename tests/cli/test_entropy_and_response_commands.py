"""`entropy show|history|snapshot` and `responses check|trigger|history|stats`."""

import json

import httpx
import pytest

from tests.cli.helpers import Invoke, apply_pattern, create_pattern, ok, table_field

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
