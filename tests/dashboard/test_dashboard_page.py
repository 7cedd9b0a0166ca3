"""The dashboard in a real headless Chromium against a real uvicorn server.

The browser is Debian's Chromium at /usr/bin/chromium (CI installs it); Playwright only drives
it, and no browser is ever downloaded. Without /usr/bin/chromium these tests skip and say why.
"""

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.dashboard.stepping_app import NOW_HEADER
from tests.support import PROJECT_ROOT, Server, uvicorn_server
from tests.webhooks.receiver import always, receiver

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = PROJECT_ROOT / "docs" / "dashboard.png"
"""Rewritten only with EB_UPDATE_SCREENSHOT=1: the timestamps on the page change every run, and
a test run should not dirty the working tree."""

JOB = "checkout-ranker"
OTHER_JOB = "search-ranker"
JOB_TYPES = ("initial", "boost", "decay", "floor_enforced", "ceiling_enforced", "manual")


# ---- the fast checks (no browser) ---------------------------------------------------------------


def test_dashboard_page_is_html_with_a_strict_csp(client: TestClient) -> None:
    response = client.get("/dashboard")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "dashboard/static/vendor/uplot/uPlot.iife.min.js?v=" in response.text
    assert "dashboard/static/dashboard.js?v=" in response.text
    assert 'data-floor="0.05"' in response.text
    assert 'data-ceiling="0.5"' in response.text
    assert 'data-diversity-threshold="0.3"' in response.text
    assert " on" + "click=" not in response.text.lower()  # no inline event handlers
    assert "<script>" not in response.text  # no inline script
    # Everything the page loads comes from this service: no CDN, no other origin.
    assert not re.search(r"""(?:src|href)=["']?(?:[a-z]+:)?//""", response.text)
    assert "/dashboard" not in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("path", "media_types"),
    [
        ("vendor/uplot/uPlot.iife.min.js", ("text/javascript", "application/javascript")),
        ("vendor/uplot/uPlot.min.css", ("text/css",)),
        ("dashboard.js", ("text/javascript", "application/javascript")),
        ("dashboard.css", ("text/css",)),
    ],
)
def test_dashboard_assets_are_served_by_the_service(
    client: TestClient, path: str, media_types: tuple[str, ...]
) -> None:
    response = client.get(f"/dashboard/static/{path}")

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] in media_types
    assert response.content == (PROJECT_ROOT / "app/dashboard/static" / path).read_bytes()


def test_the_vendored_chart_library_is_the_pinned_version(client: TestClient) -> None:
    script = client.get("/dashboard/static/vendor/uplot/uPlot.iife.min.js").text
    readme = (PROJECT_ROOT / "app/dashboard/static/vendor/uplot/README.md").read_text()

    assert script.startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert "uPlot 1.6.32" in readme
    assert (PROJECT_ROOT / "app/dashboard/static/vendor/uplot/LICENSE").is_file()


def test_unknown_dashboard_asset_is_a_problem_404(client: TestClient) -> None:
    response = client.get("/dashboard/static/missing.js")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


# ---- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright.chromium


@pytest.fixture
def browser_context(chromium: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh profile per test, so no read key or cache leaks from one test into another."""
    context = chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1360, "height": 1000},
        timezone_id="Europe/Berlin",  # the page shows UTC whatever the browser's zone
    )
    try:
        yield context
    finally:
        context.close()


class PageProblems:
    """Everything that went wrong in the page: console errors, uncaught exceptions, requests
    that failed at the network level or answered with an error status."""

    def __init__(self, page: Any) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.failed_requests: list[str] = []
        self.error_responses: list[str] = []
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on(
            "requestfailed",
            lambda request: self.failed_requests.append(f"{request.url} {request.failure}"),
        )
        page.on(
            "response",
            lambda response: (
                self.error_responses.append(f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )

    def assert_none(self) -> None:
        assert self.error_responses == []
        assert self.console_errors == []
        assert self.page_errors == []
        assert self.failed_requests == []


def epoch_seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def post(
    http: httpx.Client, path: str, body: dict[str, Any], *, at: datetime | None = None
) -> dict[str, Any]:
    """POST, at the server's next step of time, or `at` that time."""
    headers = {NOW_HEADER: at.isoformat()} if at is not None else {}
    response = http.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


JOB_HALF_LIFE = 3600
"""The half-life of JOB's own diversity in the seeded history (one of the registered defaults)."""


def put_diversity_policy(http: httpx.Client, job: str, scope: str, half_life: int | None) -> None:
    body = {"diversity": {"scope": scope, "half_life_seconds": half_life}}
    response = http.put(f"/v1/jobs/{job}/policy", json=body)
    assert response.status_code == 200, response.text


def apply(http: httpx.Client, job: str | None, *, at: datetime | None = None, **uses: int) -> None:
    """Record `uses` (pattern id: how many times) for `job` in one batch."""
    applications = [
        {
            "pattern_id": pattern_id,
            "execution_id": f"run-{n}",
            "job_hash": job,
            "pattern_led_to_success": True,
        }
        for pattern_id, times in uses.items()
        for n in range(times)
    ]
    post(http, "/v1/pattern-applications", {"applications": applications}, at=at)


def seed(http: httpx.Client) -> None:
    """A job with every kind of budget record, an entropy response, patterns with applications
    and diversity snapshots in between; then another job, active last. The job measures its own
    diversity with a half-life: it starts balanced and collapses onto "greedy", while every
    job's applications stay mixed."""

    def adjust(entropy: float) -> None:
        post(http, "/v1/budget/adjustments", {"job_hash": JOB, "current_entropy": entropy})

    def set_budget(value: float) -> None:
        body = {"job_hash": JOB, "budget_value": value, "adjustment_type": "manual"}
        post(http, "/v1/budget", body)

    def snapshot() -> None:
        post(http, "/v1/pattern-entropy/snapshots", {"alert_threshold": 0.3})
        job_scope = {"job_hash": JOB, "half_life_seconds": JOB_HALF_LIFE}
        post(http, "/v1/pattern-entropy/snapshots", {"alert_threshold": 0.3, **job_scope})

    for pattern_id, status in (
        ("greedy", "pending"),
        ("beam", "pending"),
        ("random", "pending"),
        ("stale", "quarantined"),
    ):
        body = {"id": pattern_id, "pattern_type": "search", "pattern_name": pattern_id}
        post(http, "/v1/patterns", {**body, "quarantine_status": status})
    put_diversity_policy(http, JOB, "job", JOB_HALF_LIFE)

    apply(http, JOB, greedy=1, beam=1, random=1)
    apply(http, OTHER_JOB, beam=1)
    snapshot()
    adjust(0.55)  # initial 0.15
    adjust(0.2)  # boost 0.25
    adjust(0.15)  # boost 0.35
    adjust(0.6)  # decay
    set_budget(0.02)  # floor_enforced 0.05
    apply(http, JOB, greedy=3)
    apply(http, OTHER_JOB, beam=2)
    snapshot()
    adjust(0.1)  # boost
    adjust(0.1)  # boost
    post(
        http,
        "/v1/entropy-responses",
        {"trigger": {"job_hash": JOB, "entropy_at_trigger": 0.18, "threshold_used": 0.3}},
    )  # boost, and "stale" goes back to pending
    apply(http, JOB, greedy=6)
    apply(http, OTHER_JOB, random=2)
    snapshot()
    adjust(0.7)  # decay
    set_budget(0.9)  # ceiling_enforced 0.5
    apply(http, OTHER_JOB, beam=1, random=1)
    snapshot()
    post(http, "/v1/budget/adjustments", {"job_hash": OTHER_JOB, "current_entropy": 0.5})
    post(http, "/v1/budget/adjustments", {"job_hash": OTHER_JOB, "current_entropy": 0.2})


def api(http: httpx.Client, path: str, **params: Any) -> Any:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_job(page: Any, job: str) -> None:
    """Until the page has loaded `job` completely (the alerts are the per-job answer)."""
    page.wait_for_function(
        """(job) => {
            const s = window.dashboardState;
            return s && s.status === "ok" && s.job === job && s.alerts
                && s.alerts.job_hash === job && s.budget.plotted
                && s.budget.records.every((r) => r.job_hash === job);
        }""",
        arg=job,
        timeout=15_000,
    )


def plot_area(page: Any, chart: str) -> dict[str, float]:
    """Where a chart draws its data on the page (uPlot's overlay covers exactly that area)."""
    box: dict[str, float] = page.locator(f"#{chart} .u-over").bounding_box()
    return box


def assert_axis_fits(scale: list[float], times: list[float]) -> None:
    """The time axis spans the data, with at most 5% of it empty on either side."""
    low, high = scale
    first, last = min(times), max(times)
    assert low <= first
    assert last <= high
    assert first - low <= 0.05 * (high - low)
    assert high - last <= 0.05 * (high - low)


def assert_axis_is_the_window(scale: list[float], seconds: int, now: float) -> None:
    """The time axis is the chosen window, ending now."""
    low, high = scale
    assert high - low == pytest.approx(seconds, abs=0.01)
    assert abs(high - now) < 120


@pytest.fixture
def server(database_url: str, log_dir: Path) -> Iterator[Server]:
    with uvicorn_server(
        database_url, log_dir, app_factory="tests.dashboard.stepping_app:create_app"
    ) as running:
        yield running


@pytest.mark.e2e
def test_dashboard_draws_what_the_api_holds(
    browser_context: Any, server: Server, log_dir: Path
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        seed(http)
        page = browser_context.new_page()
        problems = PageProblems(page)

        page.goto(f"{server.base_url}/dashboard")
        wait_for_job(page, OTHER_JOB)  # the most recently active job comes first
        picker_jobs = page.eval_on_selector_all(
            "#job-picker option", "options => options.map(o => o.value)"
        )
        page.select_option("#job-picker", JOB)
        wait_for_job(page, JOB)
        state = page.evaluate("window.dashboardState")

        history = list(reversed(api(http, "/v1/budget/history", job_hash=JOB, limit=1000)["items"]))
        responses = api(http, "/v1/entropy-responses/history", job_hash=JOB, limit=1000)["items"]
        snapshots = list(
            reversed(api(http, "/v1/pattern-entropy/history", scope="global")["items"])
        )
        job_snapshots = list(
            reversed(api(http, "/v1/pattern-entropy/history", job_hash=JOB)["items"])
        )
        job_now = api(http, "/v1/pattern-entropy", job_hash=JOB, half_life_seconds=JOB_HALF_LIFE)
        budget_stats = api(http, "/v1/budget/statistics", job_hash=JOB)
        response_stats = api(http, "/v1/entropy-responses/statistics", job_hash=JOB)
        entropy = api(http, "/v1/pattern-entropy", alert_threshold=0.3)
        alerts = api(http, "/v1/alerts", job_hash=JOB)

        assert picker_jobs == [OTHER_JOB, JOB]
        assert f"job={JOB}" in page.url

        # The budget chart: every record, in time order, with its marker.
        plotted = state["budget"]["plotted"]
        assert len(history) == 10
        assert len(plotted["budget"]) == len(history)
        assert plotted["budget"] == [record["budget_value"] for record in history]
        assert plotted["x"] == pytest.approx([epoch_seconds(r["recorded_at"]) for r in history])
        expected_markers = Counter(record["adjustment_type"] for record in history)
        assert plotted["markers"] == {kind: expected_markers[kind] for kind in JOB_TYPES}
        assert plotted["markers"]["boost"] == 5
        assert plotted["markers"]["floor_enforced"] == 1
        assert plotted["markers"]["ceiling_enforced"] == 1
        assert plotted["band"] == [0.05, 0.5]

        # Entropy responses: one event line each, on the budget timeline.
        assert len(responses) == 1
        assert plotted["events"] == pytest.approx(
            [epoch_seconds(r["recorded_at"]) for r in responses]
        )

        # The diversity chart: every job's snapshots (all-time), and beside them the job's own
        # in its policy's scope, with its value now as the API measures it; the threshold.
        diversity = state["diversity"]["plotted"]
        assert len(snapshots) == 4
        assert {s["scope"]["half_life_seconds"] for s in snapshots} == {None}
        assert diversity["diversity"] == [s["diversity_index"] for s in snapshots]
        assert diversity["x"] == pytest.approx(
            [epoch_seconds(s["calculated_at"]) for s in snapshots]
        )
        job_scope = {"job_hash": JOB, "half_life_seconds": JOB_HALF_LIFE}
        assert len(job_snapshots) == 4
        assert {json.dumps(s["scope"]) for s in job_snapshots} == {json.dumps(job_scope)}
        job_line = diversity["job"]["line"]
        assert diversity["job"]["scope"] == job_scope
        assert job_line["diversity"] == [s["diversity_index"] for s in job_snapshots]
        assert job_line["x"] == pytest.approx(
            [epoch_seconds(s["calculated_at"]) for s in job_snapshots]
        )
        assert diversity["job"]["current"] == job_now["diversity_index"]
        assert (
            json.loads(page.get_attribute("#job-diversity-value", "data-value"))
            == (job_now["diversity_index"])
        )
        assert f"job {JOB}, half-life {JOB_HALF_LIFE} s" in page.text_content("#job-diversity")
        assert page.text_content("#job-diversity-key-label") == (
            f"job {JOB}, half-life {JOB_HALF_LIFE} s (the job's policy)"
        )
        assert page.is_visible("#job-diversity-key")
        # The job collapsed onto one pattern while every job's applications stayed mixed.
        assert job_line["diversity"][0] == pytest.approx(1.0)
        assert job_line["diversity"][-1] < 0.3 < diversity["diversity"][-1]
        assert diversity["threshold"] == 0.3

        # Each chart's time axis fits its own data: the first snapshot was taken before the
        # job's first budget record, and the budget chart does not stretch back to it.
        budget_times = plotted["x"] + plotted["events"]
        assert_axis_fits(plotted["scales"]["x"], budget_times)
        assert_axis_fits(diversity["scales"]["x"], diversity["x"] + job_line["x"])
        assert diversity["x"][0] < plotted["x"][0]
        assert plotted["scales"]["x"][0] > diversity["x"][0]

        # The threshold's label sits beside its line, inside the plot, never across it.
        label = page.locator("#diversity-chart .threshold-label")
        assert label.text_content() == "alert threshold 0.3"
        box = label.bounding_box()
        area = plot_area(page, "diversity-chart")
        y_low, y_high = diversity["scales"]["y"]
        line_y = area["y"] + (y_high - 0.3) / (y_high - y_low) * area["height"]
        assert box["y"] + box["height"] <= line_y - 2 or box["y"] >= line_y + 2
        assert area["y"] <= box["y"]
        assert box["y"] + box["height"] <= area["y"] + area["height"]
        assert area["x"] <= box["x"]
        assert box["x"] + box["width"] <= area["x"] + area["width"]

        # Alerts: what the endpoint says, the firing ones highlighted.
        firing_rules = {alert["rule"] for alert in alerts["alerts"] if alert["firing"]}
        assert firing_rules == {"boosts_outpace_decays", "dominant_pattern"}
        shown_firing = set(
            page.eval_on_selector_all(
                "#alerts li.firing", "items => items.map(i => i.dataset.rule)"
            )
        )
        shown_rules = page.eval_on_selector_all(
            "#alerts li", "items => items.map(i => i.dataset.rule)"
        )
        assert shown_firing == firing_rules
        assert shown_rules == [alert["rule"] for alert in alerts["alerts"]]
        assert page.text_content("#alerts-firing") == f"{len(firing_rules)} firing"
        for alert in alerts["alerts"]:
            assert alert["message"] in page.text_content(f'#alerts li[data-rule="{alert["rule"]}"]')

        # Statistics: the numbers the API reports, every one of them shown.
        shown = {
            element["stat"]: json.loads(element["value"])
            for element in page.eval_on_selector_all(
                "[data-stat]",
                "els => els.map(e => ({stat: e.dataset.stat, value: e.dataset.value}))",
            )
        }
        expected = {f"budget.{k}": v for k, v in budget_stats.items()}
        expected |= {f"responses.{k}": v for k, v in response_stats.items()}
        # The panel is the global all-time scope, where the weighted count is the count.
        assert entropy["scope"] == {"job_hash": None, "half_life_seconds": None}
        assert entropy["weighted_applications"] == entropy["total_applications"]
        not_shown = {"calculated_at", "scope", "weighted_applications"}
        expected |= {f"entropy.{k}": v for k, v in entropy.items() if k not in not_shown}
        assert shown == expected
        assert page.text_content('[data-stat="budget.current_budget"]') == "0.500"
        assert page.text_content('[data-stat="budget.total_adjustments"]') == "10"

        # No webhook endpoint yet: the deliveries panel says how to subscribe one.
        assert page.text_content("#webhooks") == (
            "No webhook endpoints (POST /v1/webhooks subscribes one)."
        )
        assert page.is_hidden("#webhooks-badge")

        # Live refresh: the page polls, and says when it last succeeded.
        refreshes = state["refreshCount"]
        page.wait_for_function(
            "(n) => window.dashboardState.refreshCount > n", arg=refreshes, timeout=12_000
        )
        assert page.text_content("#last-updated").startswith("last updated 20")
        assert page.is_hidden("#auth-banner")
        assert page.is_hidden("#error-banner")

        page.mouse.move(700, 200)  # a cursor over the budget chart, for the screenshot
        screenshot = log_dir / "dashboard.png"
        page.screenshot(path=str(screenshot), full_page=True)
        if os.environ.get("EB_UPDATE_SCREENSHOT") == "1":
            SCREENSHOT.write_bytes(screenshot.read_bytes())
        problems.assert_none()


def shown_diversity(page: Any) -> dict[str, Any]:
    plotted: dict[str, Any] = page.evaluate("window.dashboardState.diversity.plotted")
    return plotted


@pytest.mark.e2e
def test_a_collapsed_job_reads_low_in_its_own_scope_while_every_job_reads_high(
    browser_context: Any, server: Server
) -> None:
    """JOB measures its own applications with a 300 s half-life. For an hour it spreads them
    over four patterns, then for half an hour it applies only one; another job keeps all four
    busy throughout. The page shows the job's line falling below the threshold, and its value
    now, beside every job's line, which stays high: each as the API reports it."""
    patterns = ("greedy", "beam", "random", "sampled")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    scope = {"job_hash": JOB, "half_life_seconds": 300}
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        for pattern_id in patterns:
            body = {"id": pattern_id, "pattern_type": "search", "pattern_name": pattern_id}
            post(http, "/v1/patterns", body, at=start)
        put_diversity_policy(http, JOB, "job", 300)
        post(http, "/v1/budget/adjustments", {"job_hash": JOB, "current_entropy": 0.5}, at=start)
        for step in range(1, 19):  # every 5 minutes for an hour and a half
            at = start + timedelta(minutes=5 * step)
            collapsed = step > 12
            apply(http, OTHER_JOB, at=at, **dict.fromkeys(patterns, 5))
            apply(http, JOB, at=at, **({"greedy": 4} if collapsed else dict.fromkeys(patterns, 1)))
            post(http, "/v1/pattern-entropy/snapshots", {"alert_threshold": 0.3}, at=at)
            post(http, "/v1/pattern-entropy/snapshots", scope, at=at)

        page = browser_context.new_page()
        problems = PageProblems(page)
        page.goto(f"{server.base_url}/dashboard?job={JOB}")
        wait_for_job(page, JOB)
        diversity = shown_diversity(page)

        job_snapshots = list(
            reversed(api(http, "/v1/pattern-entropy/history", job_hash=JOB)["items"])
        )
        global_snapshots = list(
            reversed(api(http, "/v1/pattern-entropy/history", scope="global")["items"])
        )
        job_now = api(http, "/v1/pattern-entropy", job_hash=JOB, half_life_seconds=300)
        every_job_now = api(http, "/v1/pattern-entropy")

    assert diversity["job"]["scope"] == scope
    assert diversity["job"]["line"]["diversity"] == [s["diversity_index"] for s in job_snapshots]
    assert diversity["diversity"] == [s["diversity_index"] for s in global_snapshots]
    assert diversity["job"]["current"] == job_now["diversity_index"]
    # Balanced, then collapsed: the job's own line falls below the threshold and stays there,
    # while every job's line stays high.
    job_line = diversity["job"]["line"]["diversity"]
    assert min(job_line[:12]) > 0.99
    assert max(job_line[15:]) < 0.3
    assert job_now["diversity_index"] < 0.3
    assert min(diversity["diversity"]) > 0.9
    assert every_job_now["diversity_index"] > 0.9
    detail = page.text_content("#job-diversity-detail")
    assert detail.startswith("below its threshold 0.3")
    assert page.text_content("#job-diversity-value") == f"{job_now['diversity_index']:.3f}"
    shown_now = page.get_attribute('[data-stat="entropy.diversity_index"]', "data-value")
    assert json.loads(shown_now) == every_job_now["diversity_index"]
    problems.assert_none()


@pytest.mark.e2e
def test_without_a_job_there_is_no_job_line_and_a_global_policy_draws_none(
    browser_context: Any, server: Server
) -> None:
    """No job has a budget yet: the panel is every job's line alone. Then a job appears whose
    policy measures every job all-time: its value now is named as that scope, with no second
    line (it would be the global line again)."""
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        for pattern_id in ("greedy", "beam"):
            body = {"id": pattern_id, "pattern_type": "search", "pattern_name": pattern_id}
            post(http, "/v1/patterns", body)
        apply(http, JOB, greedy=3, beam=1)
        post(http, "/v1/pattern-entropy/snapshots", {"alert_threshold": 0.3})
        apply(http, OTHER_JOB, beam=2)
        post(http, "/v1/pattern-entropy/snapshots", {"alert_threshold": 0.3})
        snapshots = list(reversed(api(http, "/v1/pattern-entropy/history")["items"]))

        page = browser_context.new_page()
        problems = PageProblems(page)
        page.goto(f"{server.base_url}/dashboard")
        page.wait_for_function(
            "() => { const s = window.dashboardState;"
            " return s.status === 'ok' && s.diversity.plotted !== null; }",
            timeout=15_000,
        )
        diversity = shown_diversity(page)
        assert page.evaluate("window.dashboardState.job") is None
        assert diversity["job"] is None
        assert diversity["diversity"] == [s["diversity_index"] for s in snapshots]
        assert page.is_hidden("#job-diversity")
        assert page.is_hidden("#job-diversity-key")

        post(http, "/v1/budget/adjustments", {"job_hash": JOB, "current_entropy": 0.5})
        wait_for_job(page, JOB)  # picked on the next refresh, as the first job listed
        diversity = shown_diversity(page)
        every_job_now = api(http, "/v1/pattern-entropy")

    assert diversity["job"] == {
        "scope": {"job_hash": None, "half_life_seconds": None},
        "current": every_job_now["diversity_index"],
        "line": None,
    }
    assert diversity["diversity"] == [s["diversity_index"] for s in snapshots]
    assert page.is_visible("#job-diversity")
    assert "all jobs, all-time" in page.text_content("#job-diversity-scope")
    assert page.is_hidden("#job-diversity-key")
    problems.assert_none()


@pytest.mark.e2e
def test_dashboard_asks_for_a_read_key_and_sends_it(browser_context: Any, server: Server) -> None:
    """Until the auth branch lands, a route in the browser plays a server that wants a key."""
    key = "read-key-0123"
    seen_authorization: list[str | None] = []

    def require_key(route: Any) -> None:
        authorization = route.request.headers.get("authorization")
        seen_authorization.append(authorization)
        if authorization == f"Bearer {key}":
            route.continue_()
            return
        route.fulfill(
            status=401,
            headers={"WWW-Authenticate": "Bearer", "Content-Type": "application/problem+json"},
            body=json.dumps(
                {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "no key"}
            ),
        )

    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        post(http, "/v1/budget/adjustments", {"job_hash": JOB, "current_entropy": 0.5})
    page = browser_context.new_page()
    problems = PageProblems(page)
    page.route("**/v1/**", require_key)

    page.goto(f"{server.base_url}/dashboard")
    page.wait_for_selector("#auth-banner", state="visible", timeout=15_000)

    assert "This server needs a read key." in page.text_content("#auth-banner")
    assert page.is_visible("#api-key")
    assert page.evaluate("document.activeElement.id") == "api-key"
    assert page.evaluate("window.dashboardState.status") == "auth"
    assert seen_authorization
    assert set(seen_authorization) == {None}

    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")
    wait_for_job(page, JOB)

    assert page.is_hidden("#auth-banner")
    assert seen_authorization[-1] == f"Bearer {key}"
    assert page.evaluate("localStorage.getItem('entropy-budget.read-key')") == key
    # The key survives a reload: the page sends it from the start.
    before = len(seen_authorization)
    page.reload()
    wait_for_job(page, JOB)
    assert set(seen_authorization[before:]) == {f"Bearer {key}"}

    # The only errors are the refusals the test itself staged (Chromium logs each one).
    assert problems.page_errors == []
    assert problems.failed_requests == []
    assert problems.error_responses
    assert all(entry.startswith("401 ") for entry in problems.error_responses)
    assert all("401" in message for message in problems.console_errors)


@pytest.mark.e2e
def test_dashboard_keeps_its_data_and_says_so_when_a_refresh_fails(
    browser_context: Any, server: Server
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        post(http, "/v1/budget/adjustments", {"job_hash": JOB, "current_entropy": 0.5})
        post(http, "/v1/budget/adjustments", {"job_hash": JOB, "current_entropy": 0.1})
    page = browser_context.new_page()
    problems = PageProblems(page)
    page.goto(f"{server.base_url}/dashboard")
    wait_for_job(page, JOB)

    def unavailable(route: Any) -> None:
        route.fulfill(
            status=503,
            headers={"Content-Type": "application/problem+json", "Retry-After": "2"},
            body=json.dumps({"title": "Database unavailable", "status": 503, "detail": "down"}),
        )

    page.route("**/v1/**", unavailable)
    page.click("#key-form button[type=submit]")  # refreshes now instead of in 5 s
    page.wait_for_function("() => window.dashboardState.status === 'error'", timeout=15_000)

    assert page.is_visible("#error-banner")
    assert "answered 503: down" in page.text_content("#error-banner")
    assert page.text_content("#last-updated").startswith("stale, last updated 20")
    assert page.evaluate("window.dashboardState.budget.plotted.budget") == [0.15, 0.25]
    assert page.is_hidden("#auth-banner")

    page.unroute("**/v1/**")
    page.wait_for_function(
        "() => window.dashboardState.status === 'ok'", timeout=15_000
    )  # polls on
    assert page.is_hidden("#error-banner")
    assert page.text_content("#last-updated").startswith("last updated 20")
    assert problems.page_errors == []  # the staged 503s are answers, not failures of the page
    assert problems.failed_requests == []


@pytest.mark.e2e
def test_range_picker_shows_the_last_hour_the_last_day_or_everything(
    browser_context: Any, server: Server
) -> None:
    now = datetime.now(UTC)

    def ago(**age: float) -> datetime:
        return now - timedelta(**age)

    with httpx.Client(base_url=server.base_url, timeout=10) as http:

        def reading(entropy: float, at: datetime) -> None:
            body = {"job_hash": JOB, "current_entropy": entropy}
            post(http, "/v1/budget/adjustments", body, at=at)

        def applied_then_snapshot(pattern_id: str, at: datetime) -> None:
            application = {
                "pattern_id": pattern_id,
                "execution_id": f"run-{at.isoformat()}",
                "pattern_led_to_success": True,
            }
            post(http, "/v1/pattern-applications", {"applications": [application]}, at=at)
            post(http, "/v1/pattern-entropy/snapshots", {"alert_threshold": 0.3}, at=at)

        for pattern_id in ("greedy", "beam"):
            body = {"id": pattern_id, "pattern_type": "search", "pattern_name": pattern_id}
            post(http, "/v1/patterns", body, at=ago(hours=31))
        reading(0.5, ago(hours=30))
        applied_then_snapshot("greedy", ago(hours=26))
        reading(0.2, ago(hours=20))
        reading(0.6, ago(hours=3))
        applied_then_snapshot("beam", ago(hours=2))
        reading(0.1, ago(minutes=50))
        applied_then_snapshot("beam", ago(minutes=20))
        reading(0.7, ago(minutes=10))

        budget = [
            epoch_seconds(r["recorded_at"])
            for r in reversed(api(http, "/v1/budget/history", job_hash=JOB)["items"])
        ]
        snapshots = [
            epoch_seconds(s["calculated_at"])
            for s in reversed(api(http, "/v1/pattern-entropy/history")["items"])
        ]
    assert (len(budget), len(snapshots)) == (5, 3)

    page = browser_context.new_page()
    problems = PageProblems(page)
    page.goto(f"{server.base_url}/dashboard?job={JOB}")
    wait_for_job(page, JOB)

    def shown() -> tuple[dict[str, Any], dict[str, Any]]:
        state = page.evaluate("window.dashboardState")
        return state["budget"]["plotted"], state["diversity"]["plotted"]

    # Everything, by default: each chart fits its own data.
    assert page.input_value("#range-picker") == "all"
    plotted, diversity = shown()
    assert plotted["x"] == pytest.approx(budget)
    assert diversity["x"] == pytest.approx(snapshots)
    assert_axis_fits(plotted["scales"]["x"], budget)
    assert_axis_fits(diversity["scales"]["x"], snapshots)

    for choice, seconds, budget_shown, snapshots_shown in (
        ("day", 86_400, budget[1:], snapshots[1:]),
        ("hour", 3_600, budget[3:], snapshots[2:]),
    ):
        page.select_option("#range-picker", choice)
        page.wait_for_function(
            """(seconds) => {
                const s = window.dashboardState;
                const scales = [s.budget.plotted.scales, s.diversity.plotted.scales];
                return s.status === "ok" && scales.every(
                    (scale) => scale && Math.abs(scale.x[1] - scale.x[0] - seconds) < 0.01);
            }""",
            arg=seconds,
            timeout=15_000,
        )
        plotted, diversity = shown()
        assert plotted["x"] == pytest.approx(budget_shown)
        assert diversity["x"] == pytest.approx(snapshots_shown)
        for scale in (plotted["scales"]["x"], diversity["scales"]["x"]):
            assert_axis_is_the_window(scale, seconds, datetime.now(UTC).timestamp())
        assert f"range={choice}" in page.url
        assert page.is_hidden("#budget-note")

    # The choice survives a reload (it is in the URL).
    page.reload()
    wait_for_job(page, JOB)
    assert page.input_value("#range-picker") == "hour"
    plotted, _diversity = shown()
    assert plotted["x"] == pytest.approx(budget[3:])
    problems.assert_none()


@pytest.mark.e2e
def test_webhook_panel_shows_each_endpoints_latest_deliveries(
    browser_context: Any, database_url: str, log_dir: Path
) -> None:
    """Two real receivers: one takes every message (204), the other answers 410 Gone, so its
    message fails and the service disables it; a third endpoint never got a message. The panel
    shows each endpoint with exactly the latest messages its attempts log reports."""
    fast_delivery = {"WEBHOOKS_ALLOW_PRIVATE": "true", "WEBHOOKS_POLL_SECONDS": "0.05"}
    with (
        receiver(always(204)) as taking,
        receiver(always(410)) as gone,
        uvicorn_server(
            database_url,
            log_dir,
            app_factory="tests.dashboard.stepping_app:create_app",
            extra_env=fast_delivery,
        ) as running,
        httpx.Client(base_url=running.base_url, timeout=10) as http,
    ):
        every_event = ["entropy_response.triggered", "pattern.status_changed"]
        taking_id = post(http, "/v1/webhooks", {"url": taking.url, "events": every_event})["id"]
        gone_id = post(http, "/v1/webhooks", {"url": gone.url, "events": every_event})["id"]
        quiet = {"url": "http://127.0.0.1:9/never", "events": ["pattern.status_changed"]}
        quiet_id = post(http, "/v1/webhooks", quiet)["id"]
        # Pinged first: once the 410 endpoint answers any message it is disabled, and a
        # disabled endpoint refuses pings.
        for webhook_id in (taking_id, gone_id):
            assert http.post(f"/v1/webhooks/{webhook_id}/ping").status_code == 202
        for entropy in (0.1, 0.15, 0.2):  # three responses: an event for each subscriber
            trigger = {"job_hash": JOB, "entropy_at_trigger": entropy, "threshold_used": 0.3}
            post(http, "/v1/entropy-responses", {"trigger": trigger})

        def attempt_logs() -> dict[str, list[dict[str, Any]]]:
            return {
                webhook_id: api(http, f"/v1/webhooks/{webhook_id}/attempts", limit=5)["items"]
                for webhook_id in (taking_id, gone_id, quiet_id)
            }

        def done(logs: dict[str, list[dict[str, Any]]]) -> bool:
            return len(logs[taking_id]) == 4 and (
                {item["status"] for item in logs[taking_id]} == {"delivered"}
                and "failed" in {item["status"] for item in logs[gone_id]}
            )

        # Until every message is delivered or failed (the 410 disables the endpoint: nothing
        # more is attempted), and the logs stay as they are for half a second.
        deadline = time.monotonic() + 30
        logs, previous = attempt_logs(), None
        while (not done(logs) or logs != previous) and time.monotonic() < deadline:
            time.sleep(0.5)
            logs, previous = attempt_logs(), logs
        assert done(logs), logs
        assert logs[quiet_id] == []
        endpoints = api(http, "/v1/webhooks")["items"]
        gone_endpoint = next(e for e in endpoints if e["id"] == gone_id)
        assert gone_endpoint["enabled"] is False

        page = browser_context.new_page()
        problems = PageProblems(page)
        page.goto(f"{running.base_url}/dashboard")
        page.wait_for_function(
            """(count) => {
                const s = window.dashboardState;
                return s.status === "ok" && s.webhooks.endpoints.length === count;
            }""",
            arg=len(endpoints),
            timeout=15_000,
        )

        shown_endpoints = page.eval_on_selector_all(
            "#webhooks li.webhook", "items => items.map(i => i.dataset.webhook)"
        )
        assert shown_endpoints == [endpoint["id"] for endpoint in endpoints]
        for webhook_id, log in logs.items():
            rows = page.eval_on_selector_all(
                f'#webhooks li[data-webhook="{webhook_id}"] tr[data-message]',
                "rows => rows.map(r => [r.dataset.message, r.dataset.status,"
                " r.querySelector('.delivery-attempts').textContent,"
                " r.querySelector('.delivery-answer').textContent])",
            )
            assert rows == [
                [
                    item["message_id"],
                    item["status"],
                    str(item["attempts"]),
                    f"HTTP {item['last_status_code']}"
                    if item["last_status_code"] is not None
                    else item["last_error"] or "\u2013",
                ]
                for item in log
            ]
        gone_item = page.text_content(f'#webhooks li[data-webhook="{gone_id}"]')
        assert gone.url in gone_item
        assert f"disabled: {gone_endpoint['disabled_reason']}" in gone_item
        quiet_item = page.text_content(f'#webhooks li[data-webhook="{quiet_id}"]')
        assert "No messages yet." in quiet_item
        failed = sum(item["status"] == "failed" for log in logs.values() for item in log)
        assert page.text_content("#webhooks-badge") == f"{failed} failed"
        problems.assert_none()
