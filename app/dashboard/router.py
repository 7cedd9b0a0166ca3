"""`GET /dashboard`: an HTML page of charts served by the service itself.

The page is static: its script (`static/dashboard.js`) reads everything from the public API
(`/v1/jobs`, a job's policy, the histories, the statistics and `/v1/alerts`), so the dashboard
shows exactly what any other client would see and never evaluates a rule of its own. The charting
library (uPlot) is vendored under `static/vendor/`, so the page needs nothing beyond this service.
"""

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.core import policy_defaults as defaults

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_PATH = "/dashboard/static"
STATIC_ROUTE_NAME = "dashboard-static"

PAGE_HEADERS = {
    # The page runs no inline script or style, so it can forbid them; the only origin it talks
    # to is this service.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

_VERSIONED_ASSETS = (
    "dashboard.js",
    "dashboard.css",
    "vendor/uplot/uPlot.iife.min.js",
    "vendor/uplot/uPlot.min.css",
)

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def render_page() -> str:
    """The page, with the budget defaults it draws and a version that changes with its assets
    (so a browser never runs an old script against a new page)."""
    digest = hashlib.sha256()
    for asset in _VERSIONED_ASSETS:
        digest.update((STATIC_DIR / asset).read_bytes())
    template = (PACKAGE_DIR / "page.html").read_text(encoding="utf-8")
    replacements = {
        "{{asset_version}}": digest.hexdigest()[:12],
        "{{floor}}": repr(defaults.DEFAULT_FLOOR),
        "{{ceiling}}": repr(defaults.DEFAULT_CEILING),
        "{{diversity_threshold}}": repr(defaults.DEFAULT_ENTROPY_THRESHOLD),
    }
    for placeholder, value in replacements.items():
        template = template.replace(placeholder, value)
    return template


def static_files() -> StaticFiles:
    """The page's script, styles and the vendored chart library, mounted at `STATIC_PATH`."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/dashboard", response_class=HTMLResponse)
async def get_dashboard() -> HTMLResponse:
    """Open without a key: the page holds no data; its API calls carry the reader's key."""
    return HTMLResponse(render_page(), headers=PAGE_HEADERS)
