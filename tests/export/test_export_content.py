"""The CSV and NDJSON exports of the three histories hold exactly what the JSON pages hold.

Every comparison walks the JSON pages with `cursor` and checks the export record by record and
field by field, in order (ties included), with the values in the JSON API's own text: an NDJSON
line is the page's item byte for byte; a CSV cell is the item's JSON token (numbers as written,
`true`/`false`, lists as JSON arrays), strings unquoted, null empty. The app reads 3 rows per
chunk here (conftest), so each export crosses several chunk boundaries, some between ties.
"""

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.api_helpers import (
    adjust_budget,
    apply_patterns,
    assert_problem,
    assert_validation_problem,
    create_pattern,
    set_budget,
    trigger_response,
)
from tests.export.helpers import expected_cell, json_tokens
from tests.support import ManualClock

CSV_TYPE = "text/csv; charset=utf-8; header=present"
NDJSON_TYPE = "application/x-ndjson"
FORMATS = {"csv": "text/csv", "ndjson": NDJSON_TYPE}
PAGE_LIMIT = 4

BUDGET_FIELDS = [
    "id",
    "job_hash",
    "recorded_at",
    "budget_value",
    "entropy_at_time",
    "adjustment_type",
    "adjustment_reason",
]
RESPONSE_FIELDS = [
    "id",
    "job_hash",
    "recorded_at",
    "entropy_at_trigger",
    "threshold_used",
    "actions_taken",
    "budget_boosted",
    "quarantine_revisits",
    "patterns_revisited",
]
SNAPSHOT_FIELDS = [
    "calculated_at",
    "shannon_entropy",
    "max_possible_entropy",
    "diversity_index",
    "unique_pattern_count",
    "effective_pattern_count",
    "total_applications",
    "dominant_pattern_share",
    "threshold_exceeded",
    "scope",
    "weighted_applications",
    "id",
]


@dataclass(frozen=True)
class History:
    path: str
    name: str
    fields: list[str]
    by_job: bool


HISTORIES = {
    "budget": History("/v1/budget/history", "budget-history", BUDGET_FIELDS, True),
    "responses": History(
        "/v1/entropy-responses/history", "entropy-responses-history", RESPONSE_FIELDS, True
    ),
    "entropy": History(
        "/v1/pattern-entropy/history", "pattern-entropy-history", SNAPSHOT_FIELDS, False
    ),
}


@dataclass
class Written:
    times: list[datetime]
    """The clock's distinct times while writing, oldest first."""


@pytest.fixture
def written(client: TestClient, clock: ManualClock) -> Written:
    """Records in all three histories: two jobs, several records per timestamp, reasons with
    CSV's special characters, floats whose JSON text differs from Python's (0.00001), and
    responses with and without revisited patterns."""
    times = []
    for pattern_id in ("q-1", "q-2", "q-3", "q-4", "q-5"):
        create_pattern(client, pattern_id, "quarantined")
    create_pattern(client, "p-1")
    create_pattern(client, "p-2")
    apply_patterns(client, {"p-1": 3, "p-2": 1})
    reasons = ["plain", 'with "quotes", commas', "two\nlines", None]
    for step in range(6):
        times.append(clock.now)
        job = f"job-{'ab'[step % 2]}"
        set_budget(
            client,
            job,
            0.1 + step / 100,
            entropy_at_time=0.00001 if step % 3 == 0 else 0.3,
            adjustment_reason=reasons[step % len(reasons)],
        )
        adjust_budget(client, job, 0.2 if step % 2 else 0.9)
        adjust_budget(client, "job-c", 0.5)
        trigger_response(
            client,
            job,
            entropy_at_trigger=0.00001 if step % 2 else 0.25,
            max_quarantine_revisits=step % 3,
            boost_budget=step != 4,
        )
        if step % 2:
            trigger_response(client, "job-c", revisit_quarantine=False)
        for threshold in (None, 0.99):
            body = {} if threshold is None else {"alert_threshold": threshold}
            response = client.post("/v1/pattern-entropy/snapshots", json=body)
            assert response.status_code == 201, response.text
        if step in (1, 3):
            apply_patterns(client, {"p-2": step})
        if step != 2:  # steps 2 and 3 share their timestamp
            clock.advance(1.5)
    return Written(times)


def pages(client: TestClient, path: str, params: dict[str, Any]) -> tuple[list[Any], str]:
    """Walk the JSON pages (`PAGE_LIMIT` items each): every item with its numbers as their
    JSON text, and all the pages' raw text."""
    query = {**params, "limit": PAGE_LIMIT}
    items: list[Any] = []
    texts = []
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        texts.append(response.text)
        page = json_tokens(response.text)
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items, "".join(texts)
        query["cursor"] = page["next_cursor"]


def export(client: TestClient, path: str, params: dict[str, Any], accept: str) -> Response:
    response = client.get(path, params=params, headers={"accept": accept})
    assert response.status_code == 200, response.text
    return response


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_csv_matches(text: str, items: list[Any], fields: list[str]) -> None:
    assert text.endswith("\r\n")
    rows = csv_rows(text)
    assert rows[0] == fields
    assert len(rows) == len(items) + 1
    for row, item in zip(rows[1:], items, strict=True):
        assert list(item) == fields
        assert row == [expected_cell(item[name]) for name in fields]


def assert_ndjson_matches(text: str, items: list[Any], pages_text: str) -> None:
    lines = text.split("\n")
    assert lines[-1] == ""  # every line ends with a newline, the last one included
    assert len(lines) - 1 == len(items)
    for line, item in zip(lines[:-1], items, strict=True):
        assert json_tokens(line) == item
        assert line in pages_text  # the page's item, byte for byte


def assert_export_matches(
    client: TestClient, history: History, fmt: str, params: dict[str, Any]
) -> list[Any]:
    items, pages_text = pages(client, history.path, params)
    response = export(client, history.path, params, FORMATS[fmt])
    if fmt == "csv":
        assert_csv_matches(response.text, items, history.fields)
    else:
        assert_ndjson_matches(response.text, items, pages_text)
    return items


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", HISTORIES)
def test_an_export_holds_every_page_in_order(
    client: TestClient, written: Written, name: str, fmt: str
) -> None:
    items = assert_export_matches(client, HISTORIES[name], fmt, {})

    assert len(items) > 2 * PAGE_LIMIT  # several pages, and several chunks of 3


def test_the_data_has_ties_odd_floats_and_lists(client: TestClient, written: Written) -> None:
    """What the comparisons above cover, checked once."""
    budget, _ = pages(client, HISTORIES["budget"].path, {})
    responses, _ = pages(client, HISTORIES["responses"].path, {})
    snapshots, _ = pages(client, HISTORIES["entropy"].path, {})

    times = [item["recorded_at"] for item in budget]
    assert len(set(times)) < len(times) / 2
    assert "0.00001" in [item["entropy_at_time"] for item in budget]
    assert {None, "two\nlines", 'with "quotes", commas'} <= {
        item["adjustment_reason"] for item in budget
    }
    assert [] in [item["patterns_revisited"] for item in responses]
    assert max(len(item["patterns_revisited"]) for item in responses) == 2
    assert {True, False} == {item["budget_boosted"] for item in responses}
    assert {True, False} == {item["threshold_exceeded"] for item in snapshots}


def filters(history: History, written: Written) -> list[dict[str, Any]]:
    times = written.times
    window = [
        {"since": times[1].isoformat()},
        {"until": times[4].isoformat()},
        {"since": times[2].isoformat(), "until": (times[4] + timedelta(seconds=1)).isoformat()},
        {"since": times[-1].isoformat(), "until": times[-1].isoformat()},  # empty window
    ]
    if not history.by_job:
        return window
    return [
        *window,
        {"job_hash": "job-a"},
        {"job_hash": "job-c", "since": times[2].isoformat()},
        {"job_hash": ""},
        {"job_hash": "job-unknown"},
    ]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", HISTORIES)
def test_an_export_applies_the_filters_of_the_pages(
    client: TestClient, written: Written, name: str, fmt: str
) -> None:
    history = HISTORIES[name]
    counts = [
        len(assert_export_matches(client, history, fmt, params))
        for params in filters(history, written)
    ]

    assert 0 in counts  # some filters match nothing,
    assert len({count for count in counts if count}) > 1  # the others different subsets


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", HISTORIES)
def test_an_export_starts_after_the_cursor(
    client: TestClient, written: Written, name: str, fmt: str
) -> None:
    history = HISTORIES[name]
    everything, _ = pages(client, history.path, {})
    first_page = client.get(history.path, params={"limit": 5}).json()

    rest = assert_export_matches(client, history, fmt, {"cursor": first_page["next_cursor"]})

    assert rest == everything[5:]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", HISTORIES)
def test_an_export_ignores_the_page_size(
    client: TestClient, written: Written, name: str, fmt: str
) -> None:
    history = HISTORIES[name]
    everything, _ = pages(client, history.path, {})
    response = export(client, history.path, {"limit": 2}, FORMATS[fmt])

    lines = csv_rows(response.text)[1:] if fmt == "csv" else response.text.splitlines()
    assert len(lines) == len(everything)


@pytest.mark.parametrize("name", HISTORIES)
def test_an_empty_csv_export_is_its_header_row(client: TestClient, name: str) -> None:
    history = HISTORIES[name]
    response = export(client, history.path, {}, "text/csv")

    assert response.text == ",".join(history.fields) + "\r\n"


@pytest.mark.parametrize("name", HISTORIES)
def test_an_empty_ndjson_export_is_empty(client: TestClient, name: str) -> None:
    response = export(client, HISTORIES[name].path, {}, NDJSON_TYPE)

    assert response.content == b""


@pytest.mark.parametrize("name", HISTORIES)
def test_exports_name_their_type_and_file(client: TestClient, written: Written, name: str) -> None:
    history = HISTORIES[name]
    as_csv = export(client, history.path, {}, "text/csv")
    as_ndjson = export(client, history.path, {}, NDJSON_TYPE)
    as_json = client.get(history.path)

    assert as_csv.headers["content-type"] == CSV_TYPE
    assert as_csv.headers["content-disposition"] == f'attachment; filename="{history.name}.csv"'
    assert as_ndjson.headers["content-type"] == NDJSON_TYPE
    assert as_ndjson.headers["content-disposition"] == (
        f'attachment; filename="{history.name}.ndjson"'
    )
    assert as_json.headers["content-type"] == "application/json"
    assert "content-disposition" not in as_json.headers
    for response in (as_csv, as_ndjson, as_json):
        assert response.headers["vary"] == "Accept"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/json;q=0.5, text/csv", CSV_TYPE),
        ("text/csv;q=0.5, application/json", "application/json"),
        ("text/csv;q=0.8, application/x-ndjson;q=0.9, application/json;q=0.1", NDJSON_TYPE),
        ("text/*", CSV_TYPE),
        ("application/*;q=0.9, application/json;q=0.2", NDJSON_TYPE),
        ("image/png, text/csv;q=0.1", CSV_TYPE),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json"),
    ],
)
@pytest.mark.parametrize("name", HISTORIES)
def test_the_representation_follows_the_accept_qualities(
    client: TestClient, name: str, accept: str | None, expected: str
) -> None:
    headers = {} if accept is None else {"accept": accept}
    response = client.get(HISTORIES[name].path, headers=headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == expected


def test_several_accept_headers_count_as_one_list(client: TestClient) -> None:
    response = client.get(
        HISTORIES["budget"].path,
        headers=[("accept", "image/png"), ("accept", "application/x-ndjson;q=0.5")],
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == NDJSON_TYPE


@pytest.mark.parametrize(
    "accept", ["image/png", "application/json;q=0", "text/csv;charset=latin1", "text/html, */*;q=0"]
)
@pytest.mark.parametrize("name", HISTORIES)
def test_an_accept_that_takes_none_of_the_types_is_406(
    client: TestClient, name: str, accept: str
) -> None:
    response = client.get(HISTORIES[name].path, headers={"accept": accept})

    body = assert_problem(response, 406)
    assert body["type"] == "urn:entropy-budget:problem:not-acceptable"
    assert accept in body["detail"]
    assert "text/csv" in body["detail"]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"cursor": "not-a-cursor"}, {"since": "2026-03-01T12:00:00"}],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_validate_their_query_as_the_pages_do(
    client: TestClient, fmt: str, params: dict[str, Any]
) -> None:
    response = client.get(HISTORIES["budget"].path, params=params, headers={"accept": FORMATS[fmt]})

    assert_validation_problem(response)


NASTY_REASONS = [
    "comma, inside",
    'a "quoted" word',
    '"starts and ends with quotes"',
    "line\nbreak",
    "crlf\r\nbreak and a lone \r return",
    "tab\there",
    "  leading and trailing spaces  ",
    "unicode: é, ✓, 😀, 中文",
    "=1+2 looks like a formula",
    'all of them: "a", b\nc',
    "",
]


def test_csv_escapes_commas_quotes_and_line_breaks(client: TestClient) -> None:
    for reason in NASTY_REASONS:
        set_budget(client, "job-esc", 0.2, adjustment_reason=reason)

    text = export(client, HISTORIES["budget"].path, {}, "text/csv").content.decode("utf-8")
    rows = csv_rows(text)

    assert [row[BUDGET_FIELDS.index("adjustment_reason")] for row in rows[1:]] == list(
        reversed(NASTY_REASONS)
    )
    assert all(len(row) == len(BUDGET_FIELDS) for row in rows)
    assert ',"comma, inside"\r\n' in text
    assert ',"a ""quoted"" word"\r\n' in text
    assert ',"line\nbreak"\r\n' in text  # line breaks inside a cell are kept as they are
    assert ",  leading and trailing spaces  \r\n" in text


def test_ndjson_keeps_every_reason_as_a_json_string(client: TestClient) -> None:
    for reason in NASTY_REASONS:
        set_budget(client, "job-esc", 0.2, adjustment_reason=reason)

    response = export(client, HISTORIES["budget"].path, {}, NDJSON_TYPE)
    lines = response.content.split(b"\n")

    assert len(lines) == len(NASTY_REASONS) + 1  # raw line breaks never appear inside a line
    reasons = [json_tokens(line)["adjustment_reason"] for line in lines[:-1]]
    assert reasons == list(reversed(NASTY_REASONS))


def test_null_and_an_empty_string_are_both_an_empty_csv_cell(client: TestClient) -> None:
    """CSV has no null: the README says so and points to NDJSON when the difference matters."""
    set_budget(client, "job-a", 0.2, adjustment_reason="")
    set_budget(client, "job-a", 0.2)

    rows = csv_rows(export(client, HISTORIES["budget"].path, {}, "text/csv").text)

    reason = BUDGET_FIELDS.index("adjustment_reason")
    assert [row[reason] for row in rows[1:]] == ["", ""]
