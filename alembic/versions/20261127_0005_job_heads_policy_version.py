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
    # A job with a policy but no head yet (no records) gets the version with its first lock;
    # until then the readings read the policy of every job without a budget tip.
    op.execute(
        "UPDATE job_heads SET policy_version = (SELECT p.version FROM job_policies p "
        "WHERE p.job_hash = job_heads.job_hash)"
    )


def downgrade() -> None:
    with op.batch_alter_table('job_heads', schema=None) as batch_op:
        batch_op.drop_column('policy_version')
