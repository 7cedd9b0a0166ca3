"""diversity scopes: per-job counts, registered half-lives and their forward-decay weights;
snapshots and policies name a scope

Existing applications are counted per job here (job_pattern_counts). The half-lives start
unregistered: the service registers and fills DIVERSITY_HALF_LIVES at startup (or
`entropy-budget diversity fill`), from the applications then stored. Existing snapshots are
global and all-time, so their weighted applications are their application counts; existing
policies measure the global all-time scope (the seed's).

Stop every service process, migrate, start (as for 0005): a writer of the previous version
would record applications without counting them per job.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows updated in place on every application (see app.models.HOT_ROW_STORAGE).
HOT_ROW_STORAGE = {
    "fillfactor": 50,
    "autovacuum_vacuum_scale_factor": 0.0,
    "autovacuum_vacuum_threshold": 2000,
    "autovacuum_vacuum_cost_delay": 0,
    "autovacuum_analyze_scale_factor": 0.05,
}


def upgrade() -> None:
    op.create_table(
        "diversity_half_lives",
        sa.Column("half_life_seconds", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("half_life_seconds", name=op.f("pk_diversity_half_lives")),
    )
    op.create_table(
        "diversity_weights",
        sa.Column("job_hash", sa.String(length=128), nullable=False),
        sa.Column("pattern_id", sa.String(length=128), nullable=False),
        sa.Column("half_life_seconds", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("landmark_us", sa.BigInteger(), nullable=False),
        sa.Column("weight", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "job_hash", "pattern_id", "half_life_seconds", name=op.f("pk_diversity_weights")
        ),
        postgresql_with=HOT_ROW_STORAGE,
    )
    op.create_table(
        "job_pattern_counts",
        sa.Column("job_hash", sa.String(length=128), nullable=False),
        sa.Column("pattern_id", sa.String(length=128), nullable=False),
        sa.Column("application_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job_hash", "pattern_id", name=op.f("pk_job_pattern_counts")),
        postgresql_with=HOT_ROW_STORAGE,
    )
    op.execute(
        "INSERT INTO job_pattern_counts (job_hash, pattern_id, application_count) "
        "SELECT job_hash, pattern_id, count(*) FROM pattern_applications "
        "WHERE job_hash IS NOT NULL GROUP BY job_hash, pattern_id"
    )

    with op.batch_alter_table("job_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "diversity_scope", sa.String(length=16), server_default="global", nullable=False
            )
        )
        batch_op.add_column(sa.Column("diversity_half_life_seconds", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_job_policies_diversity_scope"), "diversity_scope IN ('global', 'job')"
        )

    with op.batch_alter_table("pattern_entropy_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_hash", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("half_life_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("weighted_applications", sa.Double(), nullable=True))
        batch_op.create_index(
            "ix_pattern_entropy_history_job_recent",
            ["job_hash", "calculated_at", "seq"],
            unique=False,
        )
    op.execute("UPDATE pattern_entropy_history SET weighted_applications = total_applications")
    with op.batch_alter_table("pattern_entropy_history", schema=None) as batch_op:
        batch_op.alter_column("weighted_applications", existing_type=sa.Double(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("pattern_entropy_history", schema=None) as batch_op:
        batch_op.drop_index("ix_pattern_entropy_history_job_recent")
        batch_op.drop_column("weighted_applications")
        batch_op.drop_column("half_life_seconds")
        batch_op.drop_column("job_hash")

    with op.batch_alter_table("job_policies", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_job_policies_diversity_scope"), type_="check")
        batch_op.drop_column("diversity_half_life_seconds")
        batch_op.drop_column("diversity_scope")

    op.drop_table("job_pattern_counts")
    op.drop_table("diversity_weights")
    op.drop_table("diversity_half_lives")
