"""The real-number definition of diversity over a scope (DESIGN section 6), by brute force
over the stored applications, in 60-digit decimal arithmetic: an independent reference for the
service's maintained accumulators.

Every application in scope weighs `2 ** (-(T - t) / h)` at the time of measurement T (times in
integer microseconds), or 1 all-time. All-time, the patterns counted are those with an
application in scope; with a half-life, those whose weight is at least 2**-20 of the largest.
"""

import decimal
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

PRECISION = decimal.Context(prec=60, Emin=-(10**9), Emax=10**9)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIGURES = (
    "shannon_entropy",
    "max_possible_entropy",
    "diversity_index",
    "unique_pattern_count",
    "effective_pattern_count",
    "total_applications",
    "dominant_pattern_share",
    "weighted_applications",
)


def microseconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class Application:
    job_hash: str | None
    pattern_id: str
    applied_us: int


def stored_applications(engine: Engine) -> list[Application]:
    """Every application as stored (the service's own tables, read raw)."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT job_hash, pattern_id, applied_at FROM pattern_applications")
        ).all()
    return [
        Application(job_hash, pattern_id, microseconds(_as_datetime(applied_at)))
        for job_hash, pattern_id, applied_at in rows
    ]


def stored_pattern_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT id FROM patterns")).scalars())


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def expected_metrics(
    applications: list[Application],
    pattern_ids: list[str],
    *,
    job_hash: str | None,
    half_life_seconds: int | None,
    at: datetime,
) -> dict[str, float]:
    """The metrics of the scope at `at`, by the definition, as floats."""
    with decimal.localcontext(PRECISION):
        in_scope = [a for a in applications if job_hash is None or a.job_hash == job_hash]
        counts: dict[str, int] = defaultdict(int)
        weights: dict[str, Decimal] = defaultdict(Decimal)
        at_us = microseconds(at)
        for application in in_scope:
            counts[application.pattern_id] += 1
            if half_life_seconds is None:
                weights[application.pattern_id] += 1
            else:
                exponent = -Decimal(at_us - application.applied_us) / Decimal(
                    half_life_seconds * 1_000_000
                )
                weights[application.pattern_id] += Decimal(2) ** exponent
        unique = len(pattern_ids) if job_hash is None else len(counts)
        total = sum(counts.values())
        if total == 0:
            return _figures(unique=unique, counted=[], total=0, largest=0, weighted=0)
        largest = max(weights.values())
        if half_life_seconds is None:
            counted = list(weights.values())
        else:
            cutoff = largest * Decimal(2) ** -20
            counted = [w for w in weights.values() if w >= cutoff]
        return _figures(
            unique=unique,
            counted=counted,
            total=total,
            largest=largest,
            weighted=sum(weights.values(), Decimal(0)),
        )


def _figures(
    *,
    unique: int,
    counted: list[Decimal],
    total: int,
    largest: Decimal | int,
    weighted: Decimal | int,
) -> dict[str, float]:
    """The metrics from the weights of the patterns counted (none: all zero)."""
    if not counted:
        return dict.fromkeys(FIGURES, 0.0) | {"unique_pattern_count": unique}
    ln2 = Decimal(2).ln()
    weight_sum = sum(counted, Decimal(0))
    entropy = -sum(((w / weight_sum) * (w / weight_sum).ln() / ln2 for w in counted), Decimal(0))
    max_entropy = Decimal(len(counted)).ln() / ln2 if len(counted) > 1 else Decimal(1)
    return {
        "shannon_entropy": float(entropy),
        "max_possible_entropy": float(max_entropy),
        "diversity_index": float(entropy / max_entropy),
        "unique_pattern_count": unique,
        "effective_pattern_count": len(counted),
        "total_applications": total,
        "dominant_pattern_share": float(largest / weight_sum),
        "weighted_applications": float(weighted),
    }


def agrees(value: float, reference: float) -> bool:
    """DESIGN section 6: |x - ref| <= 1e-9 |ref| + 1e-12."""
    return abs(value - reference) <= 1e-9 * abs(reference) + 1e-12


def assert_scope_agrees(
    measured: dict[str, Any],
    applications: list[Application],
    pattern_ids: list[str],
    *,
    job_hash: str | None,
    half_life_seconds: int | None,
    at: datetime,
) -> dict[str, float]:
    """Every figure the service measured for the scope agrees with the definition; returns
    the reference, for callers that count what it covered."""
    reference = expected_metrics(
        applications, pattern_ids, job_hash=job_hash, half_life_seconds=half_life_seconds, at=at
    )
    for figure in FIGURES:
        assert agrees(measured[figure], reference[figure]), (
            f"scope ({job_hash}, {half_life_seconds}) {figure}: {measured[figure]!r} "
            f"vs {reference[figure]!r}"
        )
    return reference
