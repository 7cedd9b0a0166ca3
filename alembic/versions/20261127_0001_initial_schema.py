"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 09:05:20.292226
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('entropy_responses',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('job_hash', sa.String(length=128), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entropy_at_trigger', sa.Double(), nullable=False),
    sa.Column('threshold_used', sa.Double(), nullable=False),
    sa.Column('actions_taken', sa.JSON(), nullable=False),
    sa.Column('budget_boosted', sa.Boolean(), nullable=False),
    sa.Column('quarantine_revisits', sa.Integer(), nullable=False),
    sa.Column('patterns_revisited', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_entropy_responses')),
    sa.UniqueConstraint('id', name=op.f('uq_entropy_responses_id'))
    )
    with op.batch_alter_table('entropy_responses', schema=None) as batch_op:
        batch_op.create_index('ix_entropy_responses_job_recent', ['job_hash', 'recorded_at', 'seq'], unique=False)
        batch_op.create_index('ix_entropy_responses_recent', ['recorded_at', 'seq'], unique=False)

    op.create_table('exploration_budget',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('job_hash', sa.String(length=128), nullable=False),
    sa.Column('job_seq', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('budget_value', sa.Double(), nullable=False),
    sa.Column('entropy_at_time', sa.Double(), nullable=True),
    sa.Column('adjustment_type', sa.String(length=32), nullable=False),
    sa.Column('adjustment_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("adjustment_type IN ('initial', 'decay', 'boost', 'floor_enforced', 'ceiling_enforced', 'manual')", name=op.f('ck_exploration_budget_adjustment_type')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_exploration_budget')),
    sa.UniqueConstraint('id', name=op.f('uq_exploration_budget_id')),
    sa.UniqueConstraint('job_hash', 'job_seq', name=op.f('uq_exploration_budget_job_hash_job_seq'))
    )
    with op.batch_alter_table('exploration_budget', schema=None) as batch_op:
        batch_op.create_index('ix_exploration_budget_job_recent', ['job_hash', 'recorded_at', 'seq'], unique=False)
        batch_op.create_index('ix_exploration_budget_recent', ['recorded_at', 'seq'], unique=False)

    op.create_table('pattern_entropy_history',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('calculated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shannon_entropy', sa.Double(), nullable=False),
    sa.Column('max_possible_entropy', sa.Double(), nullable=False),
    sa.Column('diversity_index', sa.Double(), nullable=False),
    sa.Column('unique_pattern_count', sa.Integer(), nullable=False),
    sa.Column('effective_pattern_count', sa.Integer(), nullable=False),
    sa.Column('total_applications', sa.BigInteger(), nullable=False),
    sa.Column('dominant_pattern_share', sa.Double(), nullable=False),
    sa.Column('threshold_exceeded', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_pattern_entropy_history')),
    sa.UniqueConstraint('id', name=op.f('uq_pattern_entropy_history_id'))
    )
    with op.batch_alter_table('pattern_entropy_history', schema=None) as batch_op:
        batch_op.create_index('ix_pattern_entropy_history_recent', ['calculated_at', 'seq'], unique=False)

    op.create_table('patterns',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('pattern_type', sa.String(length=255), nullable=False),
    sa.Column('pattern_name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('quarantine_status', sa.String(length=16), nullable=False),
    sa.Column('quarantine_reason', sa.Text(), nullable=True),
    sa.Column('quarantined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('validated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('application_count', sa.BigInteger(), nullable=False),
    sa.Column('success_count', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("quarantine_status IN ('pending', 'quarantined', 'validated', 'retired')", name=op.f('ck_patterns_quarantine_status')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_patterns')),
    sa.UniqueConstraint('id', name=op.f('uq_patterns_id'))
    )
    with op.batch_alter_table('patterns', schema=None) as batch_op:
        batch_op.create_index('ix_patterns_recent', ['last_seen', 'seq'], unique=False)
        batch_op.create_index('ix_patterns_status_recent', ['quarantine_status', 'last_seen', 'seq'], unique=False)

    op.create_table('pattern_applications',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('pattern_id', sa.String(length=128), nullable=False),
    sa.Column('execution_id', sa.String(length=255), nullable=False),
    sa.Column('job_hash', sa.String(length=128), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pattern_led_to_success', sa.Boolean(), nullable=True),
    sa.Column('retry_count_before', sa.Integer(), nullable=False),
    sa.Column('retry_count_after', sa.Integer(), nullable=False),
    sa.Column('grounding_confidence', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['pattern_id'], ['patterns.id'], name=op.f('fk_pattern_applications_pattern_id_patterns')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_pattern_applications')),
    sa.UniqueConstraint('id', name=op.f('uq_pattern_applications_id'))
    )
    with op.batch_alter_table('pattern_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pattern_applications_pattern_id'), ['pattern_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('pattern_applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pattern_applications_pattern_id'))

    op.drop_table('pattern_applications')
    with op.batch_alter_table('patterns', schema=None) as batch_op:
        batch_op.drop_index('ix_patterns_status_recent')
        batch_op.drop_index('ix_patterns_recent')

    op.drop_table('patterns')
    with op.batch_alter_table('pattern_entropy_history', schema=None) as batch_op:
        batch_op.drop_index('ix_pattern_entropy_history_recent')

    op.drop_table('pattern_entropy_history')
    with op.batch_alter_table('exploration_budget', schema=None) as batch_op:
        batch_op.drop_index('ix_exploration_budget_recent')
        batch_op.drop_index('ix_exploration_budget_job_recent')

    op.drop_table('exploration_budget')
    with op.batch_alter_table('entropy_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_entropy_responses_recent')
        batch_op.drop_index('ix_entropy_responses_job_recent')

    op.drop_table('entropy_responses')
