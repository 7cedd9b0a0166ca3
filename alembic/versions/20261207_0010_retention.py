"""retention: pattern applications indexed by time, so pruning walks them oldest first

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('pattern_applications', schema=None) as batch_op:
        batch_op.create_index('ix_pattern_applications_applied', ['applied_at', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pattern_applications', schema=None) as batch_op:
        batch_op.drop_index('ix_pattern_applications_applied')
