"""`patterns list|quarantine|validate` and `alerts` against a live server."""

import json

import httpx
import pytest

from tests.cli.helpers import Invoke, apply_pattern, create_pattern, ok, table_field

pytestmark = pytest.mark.e2e


def test_list_shows_patterns_and_filters_by_status(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    create_pattern(api, f"{job}-a")
    create_pattern(api, f"{job}-b", status="quarantined")
    apply_pattern(api, f"{job}-a", 3, job)

    table = ok(run("patterns", "list")).stdout
    as_json = json.loads(ok(run("patterns", "list", "--json")).stdout)
    quarantined = json.loads(
        ok(run("patterns", "list", "--status", "quarantined", "--json")).stdout
    )

    (row_a,) = [line for line in table.splitlines() if f"{job}-a " in line]
    assert [cell.strip() for cell in row_a.split("│")[1:6]] == [
        f"{job}-a",
        f"name of {job}-a",
        "pending",
        "3",
        "2",
    ]
    assert as_json == api.get("/v1/patterns").json()
    assert [item["id"] for item in quarantined["items"]] == [f"{job}-b"]


def test_list_all_pages_through_every_pattern_exactly_once(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    for index in range(11):
        create_pattern(api, f"{job}-{index:02d}")
    expected = [
        item["id"] for item in api.get("/v1/patterns", params={"limit": 1000}).json()["items"]
    ]

    listed = json.loads(ok(run("patterns", "list", "--all", "--page-size", "3", "--json")).stdout)

    assert [item["id"] for item in listed["items"]] == expected
    assert len(set(expected)) == 11


def test_quarantine_then_validate_change_the_pattern(
    run: Invoke, api: httpx.Client, job: str
) -> None:
    pattern_id = f"{job}-p"
    create_pattern(api, pattern_id)

    reason = "[/b] loops on [bold]itself[/bold]"  # user text is never read as rich markup
    table = ok(run("patterns", "quarantine", pattern_id, "--reason", reason)).stdout
    quarantined = api.get(f"/v1/patterns/{pattern_id}").json()
    validated_json = json.loads(ok(run("patterns", "validate", pattern_id, "--json")).stdout)
    validated = api.get(f"/v1/patterns/{pattern_id}").json()

    assert f"Pattern {pattern_id} is now quarantined" in table
    assert table_field(table, "quarantine_reason") == reason
    assert quarantined["quarantine_status"] == "quarantined"
    assert quarantined["quarantine_reason"] == reason
    assert quarantined["quarantined_at"] is not None
    assert validated_json == validated
    assert validated["quarantine_status"] == "validated"
    assert validated["quarantine_reason"] is None
    assert validated["validated_at"] is not None


def test_quarantine_needs_a_reason(run: Invoke) -> None:
    result = run("patterns", "quarantine", "some-pattern")
    assert result.exit_code == 2
    assert "--reason" in result.stderr


def test_alerts_show_the_server_rules(run: Invoke, api: httpx.Client, job: str) -> None:
    create_pattern(api, f"{job}-big")
    create_pattern(api, f"{job}-small")
    apply_pattern(api, f"{job}-big", 3, job)
    apply_pattern(api, f"{job}-small", 1, job)

    table = ok(run("alerts")).stdout
    as_json = json.loads(ok(run("alerts", "--json")).stdout)

    assert as_json == api.get("/v1/alerts").json()
    assert "Alerts for every job: 1 firing" in table
    (dominant,) = [line for line in table.splitlines() if "dominant_pattern" in line]
    assert "FIRING" in dominant
    assert "0.75" in dominant
    (floor,) = [line for line in table.splitlines() if "budget_at_floor" in line]
    assert " ok " in floor
