"""job policies, idempotency keys, outcome counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:16:17.172084
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('caller', sa.String(length=128), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.LargeBinary(), nullable=True),
    sa.Column('response_headers', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('caller', 'key', name=op.f('uq_idempotency_keys_caller_key'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index('ix_idempotency_keys_expires_at', ['expires_at'], unique=False)

    op.create_table('job_policies',
    sa.Column('job_hash', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('floor', sa.Double(), nullable=False),
    sa.Column('ceiling', sa.Double(), nullable=False),
    sa.Column('decay_rate', sa.Double(), nullable=False),
    sa.Column('boost_amount', sa.Double(), nullable=False),
    sa.Column('entropy_threshold', sa.Double(), nullable=False),
    sa.Column('initial_budget', sa.Double(), nullable=False),
    sa.Column('response_enabled', sa.Boolean(), nullable=False),
    sa.Column('response_threshold', sa.Double(), nullable=False),
    sa.Column('response_cooldown_seconds', sa.Integer(), nullable=False),
    sa.Column('response_boost_budget', sa.Boolean(), nullable=False),
    sa.Column('response_revisit_quarantine', sa.Boolean(), nullable=False),
    sa.Column('response_max_quarantine_revisits', sa.Integer(), nullable=False),
    sa.Column('response_budget_boost_amount', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('job_hash', name=op.f('pk_job_policies'))
    )
    with op.batch_alter_table('patterns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_count', sa.BigInteger(), server_default='0', nullable=False))

    # Existing applications with a known outcome count from the start.
    op.execute(
        "UPDATE patterns SET outcome_count = ("
        "SELECT COUNT(*) FROM pattern_applications a "
        "WHERE a.pattern_id = patterns.id AND a.pattern_led_to_success IS NOT NULL)"
    )



def downgrade() -> None:
    with op.batch_alter_table('patterns', schema=None) as batch_op:
        batch_op.drop_column('outcome_count')

    op.drop_table('job_policies')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_expires_at')

    op.drop_table('idempotency_keys')
