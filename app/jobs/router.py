"""Jobs known to the service."""

from fastapi import APIRouter

from app.budget.schemas import BudgetRecord
from app.core.db import DbSession
from app.core.http import DATABASE_PROBLEMS
from app.core.pagination import PageParams
from app.jobs.repository import JobRepository
from app.jobs.schemas import JobPage, JobSummary

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=DATABASE_PROBLEMS)


@router.get("", summary="Jobs with a budget, most recently active first")
def list_jobs(session: DbSession, page: PageParams) -> JobPage:
    records, next_cursor = JobRepository(session).latest_budgets(page)
    return JobPage(
        items=[
            JobSummary(job_hash=record.job_hash, budget=BudgetRecord.model_validate(record))
            for record in records
        ],
        next_cursor=next_cursor,
    )
