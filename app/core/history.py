"""A history as the API shows it, and the one route every history is read through.

`GET <prefix>/history` answers a JSON page by default and streams the export (CSV or NDJSON,
see `app.core.export`) when `Accept` prefers it. Each domain declares its `History` (its
repository, record, page and export name) and adds the route with `add_history_route`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.core.db import DbSession
from app.core.export import (
    JSON_MEDIA_TYPE,
    ExportQuery,
    HistoryMediaType,
    export_response,
    history_responses,
)
from app.core.http import JobHashQuery
from app.core.pagination import (
    Page,
    PageParams,
    PageRequest,
    Position,
    TimeWindow,
    TimeWindowParams,
)
from app.core.repository import HistoryFilters, HistoryRepository

RecordT = TypeVar("RecordT", bound=BaseModel)


@dataclass(frozen=True)
class History(Generic[RecordT]):
    repository: type[HistoryRepository[Any]]
    record: type[RecordT]
    page_model: type[Page[Any]]
    name: str
    """The export's file name without its extension: `budget-history`."""
    plural: str
    """What the history holds, as its description says it: `budget records`..."""
    item: str
    """... and one of them: `record`."""

    def latest(self, session: Session, job_hash: str | None) -> RecordT:
        """The newest record of the job (or of every job) as the API shows it; 404 if none."""
        return self.record.model_validate(self.repository(session).latest_or_404(job_hash=job_hash))

    def get(self, session: Session, record_id: str) -> RecordT:
        """One record by its id as the API shows it; 404 if there is none."""
        return self.record.model_validate(self.repository(session).get_or_404(record_id))

    def read_page(
        self, session: Session, page: PageRequest, window: TimeWindow, filters: HistoryFilters
    ) -> Page[Any]:
        records, next_cursor = self.repository(session).page(page, window, **filters)
        return self.page_model(
            items=[self.record.model_validate(record) for record in records],
            next_cursor=next_cursor,
        )

    def export(
        self, filters: HistoryFilters, after: Position | None, window: TimeWindow
    ) -> ExportQuery:
        """The records a streamed export of the history covers: every page's, from `after` on."""
        return ExportQuery(
            name=self.name,
            record=self.record,
            statement=self.repository.export_rows(filters),
            at=self.repository.at,
            seq=self.repository.model.seq,
            after=after,
            window=window,
        )


def job_filter(job_hash: JobHashQuery = "") -> HistoryFilters:
    """The filters of a per-job history: `job_hash`, absent or empty for every job."""
    return {"job_hash": job_hash}


def no_filter() -> HistoryFilters:
    return {}


def add_history_route(
    router: APIRouter,
    history: History[Any],
    *,
    name: str,
    summary: str,
    filters: Callable[..., HistoryFilters] = no_filter,
) -> None:
    """Add `GET /history` to `router`: `name` is its operation id (the generated clients'
    method name), `filters` the dependency reading its filter parameters."""
    filter_params = Annotated[HistoryFilters, Depends(filters)]

    def list_history(
        *,
        session: DbSession,
        request: Request,
        media_type: HistoryMediaType,
        where: filter_params,
        page: PageParams,
        window: TimeWindowParams,
    ) -> Page[Any] | Response:
        if media_type != JSON_MEDIA_TYPE:
            return export_response(request, media_type, history.export(where, page.after, window))
        return history.read_page(session, page, window, where)

    router.add_api_route(
        "/history",
        list_history,
        methods=["GET"],
        name=name,
        summary=summary,
        description=(
            f"A page of {history.plural}, newest first. With `Accept: text/csv` or\n"
            f"`application/x-ndjson`: every matching {history.item} from `cursor` on, "
            "streamed (`limit` aside)."
        ),
        response_model=history.page_model,
        responses=history_responses(history.name, history.record),
    )
