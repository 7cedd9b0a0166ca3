"""Compensated (Neumaier) sums kept in two float columns, so a maintained average stays as exact
as `math.fsum` over millions of records, where a plain running sum (or SQL's `avg`) drifts.

A stored sum is a pair (sum, compensation) whose true value is their sum. A batch of new values
is reduced to its own exact pair in Python, then merged into the stored pair by one Neumaier
step written in SQL (`merge_sql`), so the row is updated in place without being read first.
Hand-written: no maintained package keeps a compensated sum in database columns.
"""

import math
from collections.abc import Callable, Iterable


def compensated_sum(values: Iterable[float]) -> tuple[float, float]:
    """A pair whose sum is the values' exact sum to double-double precision: `fsum` correctly
    rounded, and what that rounding lost."""
    kept = list(values)
    total = math.fsum(kept)
    return total, math.fsum([*kept, -total])


def total_of(pairs: Iterable[tuple[float, float]]) -> float:
    """The correctly rounded sum of several stored pairs (a figure over many jobs)."""
    return math.fsum(part for pair in pairs for part in pair)


def merge_sql(
    sum_column: str, compensation_column: str, value: Callable[[str], str], table: str
) -> str:
    """SET assignments adding a batch's pair (`value(column)` names its parts) to the stored
    pair of `table`: one Neumaier step. Both databases evaluate each operation in IEEE doubles,
    and an UPDATE's right-hand sides all see the row as it was."""
    stored = f"{table}.{sum_column}"
    stored_compensation = f"{table}.{compensation_column}"
    added = value(sum_column)
    added_compensation = value(compensation_column)
    new_sum = f"({stored} + {added})"
    lost = (
        f"CASE WHEN abs({stored}) >= abs({added}) "
        f"THEN ({stored} - {new_sum}) + {added} "
        f"ELSE ({added} - {new_sum}) + {stored} END"
    )
    return (
        f"{sum_column} = {new_sum}, "
        f"{compensation_column} = {stored_compensation} + {added_compensation} + {lost}"
    )
