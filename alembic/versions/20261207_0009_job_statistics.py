"""job heads carry each job's statistics, maintained on write, filled here from the records

Budget: count, compensated sum (sum + compensation), min, max, counts by adjustment type.
Responses: count, compensated sum of entropy at trigger, boosts, revisits. The sums are
computed in Python, each a Neumaier sum over the job's records, since SQL's sum drifts over
long histories. On PostgreSQL, job_heads (updated by every batch) gets room on its pages for
HOT updates and a vacuum that follows its churn.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:10:00.000000
"""

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = (
    'budget_count',
    'budget_initial_count',
    'budget_decay_count',
    'budget_boost_count',
    'budget_floor_count',
    'budget_ceiling_count',
    'response_count',
    'response_boosts',
    'response_revisits',
)
_SUMS = (
    'budget_sum',
    'budget_sum_compensation',
    'response_entropy_sum',
    'response_entropy_compensation',
)
_EXTREMES = ('budget_min', 'budget_max')


def upgrade() -> None:
    with op.batch_alter_table('job_heads', schema=None) as batch_op:
        for name in _COUNTS:
            batch_op.add_column(
                sa.Column(name, sa.BigInteger(), server_default='0', nullable=False)
            )
        for name in _SUMS:
            batch_op.add_column(sa.Column(name, sa.Double(), server_default='0', nullable=False))
        for name in _EXTREMES:
            batch_op.add_column(sa.Column(name, sa.Double(), nullable=True))
    connection = op.get_bind()
    _fill_budget_statistics(connection)
    _fill_response_statistics(connection)
    if connection.dialect.name == 'postgresql':
        op.execute(
            'ALTER TABLE job_heads SET (fillfactor = 50, '
            'autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000)'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            'ALTER TABLE job_heads RESET (fillfactor, '
            'autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)'
        )
    with op.batch_alter_table('job_heads', schema=None) as batch_op:
        for name in (*_EXTREMES, *_SUMS, *_COUNTS):
            batch_op.drop_column(name)


class _NeumaierSum:
    """A compensated running sum (the app keeps the same pair on every write)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.compensation = 0.0

    def add(self, value: float) -> None:
        total = self.total + value
        if abs(self.total) >= abs(value):
            self.compensation += (self.total - total) + value
        else:
            self.compensation += (value - total) + self.total
        self.total = total


def _compensated_sums(rows: Iterable[sa.Row[tuple[str, float]]]) -> dict[str, _NeumaierSum]:
    sums: dict[str, _NeumaierSum] = {}
    for job_hash, value in rows:
        sums.setdefault(job_hash, _NeumaierSum()).add(value)
    return sums


def _fill_budget_statistics(connection: sa.Connection) -> None:
    def of_type(kind: str) -> str:
        return f"SUM(CASE WHEN adjustment_type = '{kind}' THEN 1 ELSE 0 END)"

    figures = connection.execute(
        sa.text(
            'SELECT job_hash, COUNT(*), MIN(budget_value), MAX(budget_value), '
            f"{of_type('initial')}, {of_type('decay')}, {of_type('boost')}, "
            f"{of_type('floor_enforced')}, {of_type('ceiling_enforced')} "
            'FROM exploration_budget GROUP BY job_hash'
        )
    ).all()
    sums = _compensated_sums(
        connection.execute(
            sa.text('SELECT job_hash, budget_value FROM exploration_budget'),
            execution_options={'yield_per': 10_000},
        )
    )
    rows = [
        {
            'job_hash': job_hash,
            'budget_count': count,
            'budget_sum': sums[job_hash].total,
            'budget_sum_compensation': sums[job_hash].compensation,
            'budget_min': low,
            'budget_max': high,
            'budget_initial_count': initial,
            'budget_decay_count': decay,
            'budget_boost_count': boost,
            'budget_floor_count': floor,
            'budget_ceiling_count': ceiling,
        }
        for job_hash, count, low, high, initial, decay, boost, floor, ceiling in figures
    ]
    if rows:
        connection.execute(
            sa.text(
                'UPDATE job_heads SET '
                + ', '.join(f'{name} = :{name}' for name in rows[0] if name != 'job_hash')
                + ' WHERE job_hash = :job_hash'
            ),
            rows,
        )


def _fill_response_statistics(connection: sa.Connection) -> None:
    figures = connection.execute(
        sa.text(
            'SELECT job_hash, COUNT(*), '
            'SUM(CASE WHEN budget_boosted THEN 1 ELSE 0 END), SUM(quarantine_revisits) '
            'FROM entropy_responses GROUP BY job_hash'
        )
    ).all()
    sums = _compensated_sums(
        connection.execute(
            sa.text('SELECT job_hash, entropy_at_trigger FROM entropy_responses'),
            execution_options={'yield_per': 10_000},
        )
    )
    rows = [
        {
            'job_hash': job_hash,
            'response_count': count,
            'response_entropy_sum': sums[job_hash].total,
            'response_entropy_compensation': sums[job_hash].compensation,
            'response_boosts': boosts,
            'response_revisits': revisits,
        }
        for job_hash, count, boosts, revisits in figures
    ]
    if rows:
        connection.execute(
            sa.text(
                'UPDATE job_heads SET '
                + ', '.join(f'{name} = :{name}' for name in rows[0] if name != 'job_hash')
                + ' WHERE job_hash = :job_hash'
            ),
            rows,
        )
