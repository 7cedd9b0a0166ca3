"""Jobs: the units that own a budget chain."""

from pydantic import BaseModel

from app.budget.schemas import BudgetRecord
from app.core.pagination import Page


class JobSummary(BaseModel):
    job_hash: str
    budget: BudgetRecord


class JobPage(Page[JobSummary]):
    pass
