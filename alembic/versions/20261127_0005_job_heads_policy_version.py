"""job heads carry the policy version: the readings' lock statement tells which jobs have a policy

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('job_heads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_version', sa.Integer(), nullable=True))
    # Every job with a policy gets its version on its head; a job with a policy and no records
    # yet gets a head of its own (a lock row: no budget, no response).
    op.execute(
        "UPDATE job_heads SET policy_version = (SELECT p.version FROM job_policies p "
        "WHERE p.job_hash = job_heads.job_hash)"
    )
    op.execute(
        "INSERT INTO job_heads (job_hash, policy_version) "
        "SELECT p.job_hash, p.version FROM job_policies p "
        "WHERE p.job_hash NOT IN (SELECT h.job_hash FROM job_heads h)"
    )


def downgrade() -> None:
    # Heads that hold neither a budget tip nor a response are lock rows, which 0004 never wrote.
    op.execute(
        "DELETE FROM job_heads WHERE budget_job_seq IS NULL AND last_response_at IS NULL"
    )
    with op.batch_alter_table('job_heads', schema=None) as batch_op:
        batch_op.drop_column('policy_version')
