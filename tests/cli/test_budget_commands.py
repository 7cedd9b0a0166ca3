"""`budget show|history|stats` against a live server."""

import json
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import Invoke, adjust, ok, set_budget, table_field

pytestmark = pytest.mark.e2e

READINGS = (0.9, 0.2, 0.2, 0.8)
"""initial 0.15, boost 0.25, boost 0.35, decay 0.3325: avg 0.270625."""


def test_show_prints_the_current_budget(run: Invoke, api: httpx.Client, job: str) -> None:
    adjust(api, job, READINGS)

    table = ok(run("budget", "show", "--job", job)).stdout
    as_json = json.loads(ok(run("budget", "show", "--job", job, "--json")).stdout)

    assert table_field(table, "budget_value") == "0.3325"
    assert table_field(table, "adjustment_type") == "decay"
    assert table_field(table, "adjustment_reason") == "Entropy 0.800 >= threshold, decaying"
    assert as_json == api.get("/v1/budget", params={"job_hash": job}).json()


def test_history_lists_every_adjustment_newest_first(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    adjust(api, job, READINGS)

    table = ok(run("budget", "history", "-j", job)).stdout
    as_json = json.loads(ok(run("budget", "history", "-j", job, "--json")).stdout)

    assert "Budget history (4 records)" in table
    rows = [line for line in table.splitlines() if job in line]
    assert [row.split("│")[3].strip() for row in rows] == ["0.3325", "0.35", "0.25", "0.15"]
    assert [row.split("│")[5].strip() for row in rows] == ["decay", "boost", "boost", "initial"]
    assert as_json == api.get("/v1/budget/history", params={"job_hash": job}).json()


def test_stats_show_the_numbers_and_the_firing_alerts(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    adjust(api, job, READINGS)
    quiet = ok(run("budget", "stats", "-j", job)).stdout
    assert table_field(quiet, "avg_budget") == "0.270625"
    assert table_field(quiet, "current_budget") == "0.3325"
    assert table_field(quiet, "total_adjustments") == "4"
    assert "No alerts firing." in quiet

    set_budget(api, job, 0.01)  # floor enforced
    set_budget(api, job, 0.001)  # again: 2 of 6 adjustments, 33% > 30%
    table = ok(run("budget", "stats", "-j", job)).stdout
    as_json = json.loads(ok(run("budget", "stats", "-j", job, "--json")).stdout)

    assert "1 alert(s) firing" in table
    assert "budget_at_floor" in table
    assert "FIRING" in table
    assert "boosts_outpace_decays" not in table  # only the firing rules are listed
    assert as_json == {
        "statistics": api.get("/v1/budget/statistics", params={"job_hash": job}).json(),
        "alerts": api.get("/v1/alerts", params={"job_hash": job}).json(),
    }
    assert as_json["statistics"]["floor_enforcements"] == 2
    assert as_json["alerts"]["firing"] == 1


def history_ids(api: httpx.Client, job: str) -> list[str]:
    page = api.get("/v1/budget/history", params={"job_hash": job, "limit": 1000}).json()
    assert page["next_cursor"] is None
    return [item["id"] for item in page["items"]]


def test_all_pages_through_every_record_exactly_once(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    for index in range(23):
        set_budget(api, job, 0.1 + index / 100)
    set_budget(api, "another-job", 0.2)
    expected = history_ids(api, job)

    everything = json.loads(
        ok(run("budget", "history", "-j", job, "--all", "--page-size", "5", "--json")).stdout
    )

    assert [item["id"] for item in everything["items"]] == expected
    assert len(expected) == 23
    assert everything["next_cursor"] is None


def test_limit_stops_at_the_total_and_the_cursor_continues(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    for index in range(12):
        set_budget(api, job, 0.1 + index / 100)
    expected = history_ids(api, job)

    first = json.loads(
        ok(run("budget", "history", "-j", job, "-n", "7", "--page-size", "3", "--json")).stdout
    )
    rest = json.loads(
        ok(
            run("budget", "history", "-j", job, "--all", "--cursor", first["next_cursor"], "--json")
        ).stdout
    )
    table = ok(run("budget", "history", "-j", job, "-n", "7")).stdout

    assert [item["id"] for item in first["items"]] == expected[:7]
    assert [item["id"] for item in rest["items"]] == expected[7:]
    assert rest["next_cursor"] is None
    assert "Budget history (7 records)" in table
    assert "--cursor" in table  # says how to get the rest


def test_export_writes_ndjson_while_paging_with_progress_on_stderr(
    run: Invoke, api: httpx.Client, job: str, tmp_path: Path
) -> None:
    for index in range(17):
        set_budget(api, job, 0.1 + index / 100)
    expected = history_ids(api, job)
    target = tmp_path / "history.ndjson"

    result = ok(
        run("budget", "history", "-j", job, "--all", "--page-size", "4", "--output", str(target))
    )

    lines = target.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [record["id"] for record in records] == expected
    assert records[0] == api.get("/v1/budget", params={"job_hash": job}).json()
    assert result.stdout == ""
    assert "17/17" in result.stderr  # the progress bar, with the statistics' total
    assert f"Wrote 17 records to {target}" in result.stderr


def test_limit_and_all_together_are_a_usage_error(run: Invoke) -> None:
    result = run("budget", "history", "--all", "--limit", "3")
    assert result.exit_code == 2
    assert "either --limit or --all" in result.stderr
