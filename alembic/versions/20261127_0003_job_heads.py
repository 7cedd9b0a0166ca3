"""job heads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:54:49.211973
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('job_heads',
    sa.Column('job_hash', sa.String(length=128), nullable=False),
    sa.Column('budget_job_seq', sa.Integer(), nullable=True),
    sa.Column('budget_value', sa.Double(), nullable=True),
    sa.Column('budget_recorded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('job_hash', name=op.f('pk_job_heads'))
    )
    # Existing chains: the budget tip is each job's highest job_seq, the last response its
    # newest recorded_at.
    op.execute(
        "INSERT INTO job_heads (job_hash, budget_job_seq, budget_value, budget_recorded_at) "
        "SELECT e.job_hash, e.job_seq, e.budget_value, e.recorded_at "
        "FROM exploration_budget e "
        "WHERE e.job_seq = (SELECT MAX(x.job_seq) FROM exploration_budget x "
        "WHERE x.job_hash = e.job_hash)"
    )
    op.execute(
        "INSERT INTO job_heads (job_hash) "
        "SELECT DISTINCT r.job_hash FROM entropy_responses r "
        "WHERE r.job_hash NOT IN (SELECT h.job_hash FROM job_heads h)"
    )
    op.execute(
        "UPDATE job_heads SET last_response_at = (SELECT MAX(r.recorded_at) "
        "FROM entropy_responses r WHERE r.job_hash = job_heads.job_hash)"
    )


def downgrade() -> None:
    op.drop_table('job_heads')
