"""Queries across jobs, and on `job_policies`."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.locking import LockedHead
from app.core.pagination import PageRequest, keyset_page
from app.jobs.schemas import Policy
from app.models import ExplorationBudget, JobHead, JobPolicy

POLICY_GROUPS = ("response", "diversity")
"""Nested parts of a policy, stored as columns named `<group>_<field>`."""


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def latest_budgets(self, page: PageRequest) -> tuple[Sequence[ExplorationBudget], str | None]:
        """The newest budget record of every job, most recently active job first: the record
        each job's head points at."""
        statement = select(ExplorationBudget).join(
            JobHead,
            (JobHead.job_hash == ExplorationBudget.job_hash)
            & (JobHead.budget_job_seq == ExplorationBudget.job_seq),
        )
        return keyset_page(
            self.session,
            statement,
            at=ExplorationBudget.recorded_at,
            seq=ExplorationBudget.seq,
            page=page,
        )


class PolicyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, job_hash: str) -> JobPolicy | None:
        return self.session.get(JobPolicy, job_hash)

    def effective(self, heads: Mapping[str, LockedHead], defaults: Policy) -> dict[str, Policy]:
        """Each locked job's own policy, or the defaults: read only for the jobs whose head
        carries a policy version."""
        policies = dict.fromkeys(heads, defaults)
        own = [job_hash for job_hash, head in heads.items() if head.policy_version is not None]
        if own:
            rows = self.session.scalars(select(JobPolicy).where(JobPolicy.job_hash.in_(own)))
            policies.update({row.job_hash: policy_of(row) for row in rows})
        return policies

    def save(self, job_hash: str, policy: Policy, *, now: datetime) -> JobPolicy:
        """Replace the job's policy and record its version on the job's head; the caller holds
        the job's lock (so the head exists)."""
        row = self.get(job_hash) or JobPolicy(job_hash=job_hash, version=0)
        row.version += 1
        row.updated_at = now
        for name, value in policy.model_dump(exclude=set(POLICY_GROUPS)).items():
            setattr(row, name, value)
        for group in POLICY_GROUPS:
            for name, value in getattr(policy, group).model_dump().items():
                setattr(row, f"{group}_{name}", value)
        self.session.add(row)
        self.session.flush()
        self.session.execute(
            update(JobHead).where(JobHead.job_hash == job_hash).values(policy_version=row.version)
        )
        return row


def policy_of(row: JobPolicy) -> Policy:
    document: dict[str, Any] = {group: {} for group in POLICY_GROUPS}
    for column in JobPolicy.__table__.columns:
        group, _, name = column.key.partition("_")
        if group in POLICY_GROUPS:
            document[group][name] = getattr(row, column.key)
        elif column.key not in {"job_hash", "version", "updated_at"}:
            document[column.key] = getattr(row, column.key)
    return Policy.model_validate(document)
