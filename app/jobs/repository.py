"""Queries across jobs, and on `job_policies`."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.core.pagination import PageRequest, keyset_page
from app.jobs.schemas import Policy
from app.models import ExplorationBudget, JobPolicy


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def latest_budgets(self, page: PageRequest) -> tuple[Sequence[ExplorationBudget], str | None]:
        """The newest budget record of every job, most recently active job first.

        It ranks every budget record, so it costs a pass over the table: fine for a job picker,
        not for a hot path.
        """
        ranked = select(
            ExplorationBudget,
            func.row_number()
            .over(
                partition_by=ExplorationBudget.job_hash,
                order_by=(ExplorationBudget.recorded_at.desc(), ExplorationBudget.seq.desc()),
            )
            .label("rank"),
        ).subquery()
        latest = aliased(ExplorationBudget, ranked)
        return keyset_page(
            self.session,
            select(latest).where(ranked.c.rank == 1),
            at=latest.recorded_at,
            seq=latest.seq,
            page=page,
        )


class PolicyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, job_hash: str) -> JobPolicy | None:
        return self.session.get(JobPolicy, job_hash)

    def effective(self, job_hashes: list[str], defaults: Policy) -> dict[str, Policy]:
        """Each job's own policy, or the defaults for jobs without one."""
        rows = self.session.scalars(select(JobPolicy).where(JobPolicy.job_hash.in_(job_hashes)))
        policies = dict.fromkeys(job_hashes, defaults)
        policies.update({row.job_hash: policy_of(row) for row in rows})
        return policies

    def save(
        self, job_hash: str, policy: Policy, *, previous: JobPolicy | None, now: datetime
    ) -> JobPolicy:
        """Replace the job's policy; the caller holds the job's lock."""
        row = previous or JobPolicy(job_hash=job_hash, version=0)
        row.version += 1
        row.updated_at = now
        for name, value in policy.model_dump(exclude={"response"}).items():
            setattr(row, name, value)
        for name, value in policy.response.model_dump().items():
            setattr(row, f"response_{name}", value)
        self.session.add(row)
        self.session.flush()
        return row


def policy_of(row: JobPolicy) -> Policy:
    response_prefix = "response_"
    fields = {
        column.key: getattr(row, column.key)
        for column in JobPolicy.__table__.columns
        if column.key not in {"job_hash", "version", "updated_at"}
    }
    return Policy.model_validate(
        {
            **{k: v for k, v in fields.items() if not k.startswith(response_prefix)},
            "response": {
                k.removeprefix(response_prefix): v
                for k, v in fields.items()
                if k.startswith(response_prefix)
            },
        }
    )
