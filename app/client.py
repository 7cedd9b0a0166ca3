"""A small typed client for a running entropy-budget server.

It speaks the HTTP contract over `httpx.Client` and returns the service's own pydantic response
models (the same classes the routers answer with), so a client and the server cannot drift apart
silently. Request bodies are the service's request models too: they are validated here with the
server's rules before anything is sent.

Errors are typed: `ServerUnreachableError` when no HTTP answer came back (connection refused, DNS,
timeout), `ApiError` carrying the RFC 9457 problem's title, detail and field errors for every
non-2xx answer.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from app.alerts.schemas import AlertReport
from app.budget.schemas import BudgetRecord, BudgetRecordPage, BudgetStatistics
from app.core.pagination import Page
from app.entropy.schemas import (
    PatternEntropyMetrics,
    PatternEntropySnapshot,
    PatternEntropySnapshotPage,
    SnapshotRequest,
)
from app.patterns.rules import QuarantineStatus
from app.patterns.schemas import PatternPage, PatternRecord, PatternStatusUpdate
from app.responses.schemas import (
    EntropyResponsePage,
    EntropyResponseRecord,
    ResponseCheck,
    ResponseStatistics,
    TriggerRequest,
)
from app.webhooks.rules import DeliveryStatus
from app.webhooks.schemas import (
    AttemptPage,
    AttemptRecord,
    EndpointCreate,
    EndpointPage,
    EndpointWithSecret,
)

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "entropy-budget-client/0.1.0"

ModelT = TypeVar("ModelT", bound=BaseModel)
ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class FieldError:
    """One entry of a 422 problem's `errors`: where (`loc`, dotted) and what (`msg`)."""

    location: str
    msg: str


@dataclass(eq=False)
class ApiError(Exception):
    """The server answered with an error: its problem's title, detail and field errors."""

    status: int
    title: str
    detail: str | None = None
    errors: list[FieldError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.status, self.title, self.detail)

    def __str__(self) -> str:
        text = f"{self.title} ({self.status})"
        return f"{text}: {self.detail}" if self.detail else text

    @classmethod
    def from_response(cls, response: httpx.Response) -> "ApiError":
        """Read a problem document; anything else (a proxy's HTML page...) keeps status + text."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("title"), str):
            detail = body.get("detail")
            return cls(
                status=response.status_code,
                title=body["title"],
                detail=detail if isinstance(detail, str) else None,
                errors=_field_errors(body.get("errors")),
            )
        return cls(
            status=response.status_code,
            title=_reason_phrase(response.status_code),
            detail=response.text.strip()[:500] or None,
        )


class ServerUnreachableError(Exception):
    """No HTTP answer: the server is down, the address is wrong, or it did not answer in time."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the entropy-budget server at {url} ({reason})")


class UnexpectedResponseError(Exception):
    """A 2xx answer whose body is not what the contract promises (wrong server or version)."""


def _field_errors(raw: object) -> list[FieldError]:
    errors = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            loc = item.get("loc", [])
            location = ".".join(map(str, loc)) if isinstance(loc, list) else str(loc)
            errors.append(FieldError(location, str(item.get("msg", ""))))
    return errors


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _transport_reason(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(error, httpx.ConnectError):
        text = str(error).lower()
        if "refused" in text:
            return "connection refused"
        return str(error) or "cannot connect"
    return str(error) or error.__class__.__name__


QueryValue = str | float | datetime | None


def _query(**params: QueryValue) -> dict[str, str | float]:
    """Query parameters without the unset ones; datetimes as RFC 3339."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in params.items()
        if value is not None
    }


def iter_pages(
    fetch: Callable[[int, str | None], Page[ItemT]],
    *,
    wanted: int | None,
    page_size: int,
    cursor: str | None,
) -> Iterator[Page[ItemT]]:
    """Follow `next_cursor` until `wanted` items (None: all of them) have been fetched.

    Each page asks for no more than is still wanted, so the last page's `next_cursor` is exactly
    where a later export would continue (None when nothing is left).
    """
    remaining = wanted
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        page = fetch(size, cursor)
        yield page
        if remaining is not None:
            remaining -= len(page.items)
        cursor = page.next_cursor
        if cursor is None or not page.items:
            return


class PageQuery(TypedDict, total=False):
    """The page a list method asks for: `limit` items after `cursor` (the server's defaults
    when absent)."""

    limit: int | None
    cursor: str | None


class HistoryQuery(PageQuery, total=False):
    """A history's page, within `since` (inclusive) .. `until` (exclusive)."""

    since: datetime | None
    until: datetime | None


class EntropyBudgetClient:
    """Typed access to the `/v1` API of one server. Use it as a context manager."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._http.close()

    # -- exploration budget -------------------------------------------------------------------

    def get_budget(self, job_hash: str = "") -> BudgetRecord:
        """The job's current budget (the latest of every job when `job_hash` is empty)."""
        return self._get(BudgetRecord, "/v1/budget", job_hash=job_hash)

    def budget_history(
        self, job_hash: str = "", **paging: Unpack[HistoryQuery]
    ) -> BudgetRecordPage:
        return self._get(BudgetRecordPage, "/v1/budget/history", job_hash=job_hash, **paging)

    def budget_statistics(self, job_hash: str = "") -> BudgetStatistics:
        return self._get(BudgetStatistics, "/v1/budget/statistics", job_hash=job_hash)

    # -- pattern entropy ----------------------------------------------------------------------

    def pattern_entropy(
        self,
        alert_threshold: float | None = None,
        *,
        job_hash: str = "",
        half_life_seconds: int | None = None,
    ) -> PatternEntropyMetrics:
        """The diversity of a scope now: a job's (empty: every job's), decayed with a
        registered half-life (None: all-time)."""
        return self._get(
            PatternEntropyMetrics,
            "/v1/pattern-entropy",
            alert_threshold=alert_threshold,
            job_hash=job_hash,
            half_life_seconds=half_life_seconds,
        )

    def record_entropy_snapshot(
        self, alert_threshold: float | None = None
    ) -> PatternEntropySnapshot:
        body = SnapshotRequest(alert_threshold=alert_threshold)
        return self._send(PatternEntropySnapshot, "POST", "/v1/pattern-entropy/snapshots", body)

    def entropy_history(self, **paging: Unpack[HistoryQuery]) -> PatternEntropySnapshotPage:
        return self._get(PatternEntropySnapshotPage, "/v1/pattern-entropy/history", **paging)

    # -- entropy responses --------------------------------------------------------------------

    def check_response(
        self,
        job_hash: str,
        *,
        entropy_threshold: float | None = None,
        cooldown_seconds: int | None = None,
    ) -> ResponseCheck:
        return self._get(
            ResponseCheck,
            "/v1/entropy-responses/check",
            job_hash=job_hash,
            entropy_threshold=entropy_threshold,
            cooldown_seconds=cooldown_seconds,
        )

    def trigger_response(self, body: TriggerRequest) -> EntropyResponseRecord:
        return self._send(EntropyResponseRecord, "POST", "/v1/entropy-responses", body)

    def response_history(
        self, job_hash: str = "", **paging: Unpack[HistoryQuery]
    ) -> EntropyResponsePage:
        path = "/v1/entropy-responses/history"
        return self._get(EntropyResponsePage, path, job_hash=job_hash, **paging)

    def response_statistics(self, job_hash: str = "") -> ResponseStatistics:
        return self._get(ResponseStatistics, "/v1/entropy-responses/statistics", job_hash=job_hash)

    # -- patterns -----------------------------------------------------------------------------

    def list_patterns(
        self, *, quarantine_status: QuarantineStatus | None = None, **paging: Unpack[PageQuery]
    ) -> PatternPage:
        return self._get(PatternPage, "/v1/patterns", quarantine_status=quarantine_status, **paging)

    def update_pattern_status(self, pattern_id: str, body: PatternStatusUpdate) -> PatternRecord:
        return self._send(PatternRecord, "PATCH", f"/v1/patterns/{_segment(pattern_id)}", body)

    # -- webhooks -----------------------------------------------------------------------------

    def create_webhook(self, body: EndpointCreate) -> EndpointWithSecret:
        """A new endpoint; its `secret` is in this answer only."""
        return self._send(EndpointWithSecret, "POST", "/v1/webhooks", body)

    def list_webhooks(self, **paging: Unpack[PageQuery]) -> EndpointPage:
        return self._get(EndpointPage, "/v1/webhooks", **paging)

    def webhook_attempts(
        self, webhook_id: str, *, status: DeliveryStatus | None = None, **paging: Unpack[PageQuery]
    ) -> AttemptPage:
        path = f"/v1/webhooks/{_segment(webhook_id)}/attempts"
        return self._get(AttemptPage, path, status=status, **paging)

    def retry_webhook_attempt(self, webhook_id: str, message_id: str) -> AttemptRecord:
        path = f"/v1/webhooks/{_segment(webhook_id)}/attempts/{_segment(message_id)}/retry"
        return self._request(AttemptRecord, "POST", path)

    def ping_webhook(self, webhook_id: str) -> AttemptRecord:
        return self._request(AttemptRecord, "POST", f"/v1/webhooks/{_segment(webhook_id)}/ping")

    # -- alerts -------------------------------------------------------------------------------

    def alerts(self, job_hash: str = "") -> AlertReport:
        """The dashboard's alert rules, evaluated by the server."""
        return self._get(AlertReport, "/v1/alerts", job_hash=job_hash)

    # -- transport ----------------------------------------------------------------------------

    def _get(self, model: type[ModelT], path: str, **params: QueryValue) -> ModelT:
        return self._request(model, "GET", path, params=_query(**params))

    def _send(self, model: type[ModelT], method: str, path: str, body: BaseModel) -> ModelT:
        # Only what the caller set: the server owns every default.
        payload = body.model_dump(mode="json", exclude_unset=True)
        return self._request(model, method, path, json=payload)

    def _request(
        self,
        model: type[ModelT],
        method: str,
        path: str,
        *,
        params: Mapping[str, str | float] | None = None,
        json: Any = None,
    ) -> ModelT:
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as error:
            raise ServerUnreachableError(self.base_url, _transport_reason(error)) from error
        if not response.is_success:
            raise ApiError.from_response(response)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            raise UnexpectedResponseError(
                f"{method} {path} answered {response.status_code} with a body that is not "
                f"a {model.__name__}: {error.error_count()} error(s)"
            ) from error


def _segment(identifier: str) -> str:
    """A path segment: identifiers are [A-Za-z0-9._:-], but a bad one must not change the path
    (the server then answers 422 or 404 for it)."""
    return quote(identifier, safe="")
