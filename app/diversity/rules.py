"""Diversity over a scope, from all-time counts or forward-decayed weights: no I/O here.

A pattern's decayed weight at time T is the sum over its applications in scope of
`2 ** (-(T - t) / h)`. Forward decay (Cormode, Shkapenyuk, Srivastava, Xu, ICDE 2009) stores
it as a weight relative to a landmark L: `weight = sum 2 ** ((t - L) / h)`, so recording an
application only adds to one number, and the weight at T is `weight * 2 ** ((L - T) / h)`.
Each stored row keeps its own landmark (rows are written independently); shares are compared
in the log domain, relative to the largest weight, so nothing underflows or overflows.
"""

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.entropy.rules import Diversity, diversity

MICROSECONDS_PER_SECOND = 1_000_000
RESCALE_AFTER_HALF_LIVES = 512
"""A write adds `2 ** ((t - L) / h)` while `t - L <= 512 h` (at most 2**512, far from the
largest float, 2**1024); later it rescales the row and moves its landmark to t."""
DROP_OUT_LOG2 = -20
"""With a half-life, a pattern counts while its weight is at least 2**-20 of the largest."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


def microseconds(moment: datetime) -> int:
    """An aware time as integer microseconds since the epoch: time differences are exact."""
    return (moment - EPOCH) // ONE_MICROSECOND


@dataclass(frozen=True)
class DecayedWeight:
    """One pattern's accumulator in a scope: its weight is `weight * 2 ** ((landmark_us - T)
    / half_life)` at time T."""

    pattern_id: str
    landmark_us: int
    weight: float


@dataclass(frozen=True)
class ScopeDiversity:
    """The seed's metrics over a scope, with the scope's total weight at the time measured."""

    metrics: Diversity
    weighted_applications: float


def all_time_diversity(counts: Sequence[int]) -> ScopeDiversity:
    """All-time: weights are counts, so this is the seed's definition exactly (over every
    pattern for the global scope, over the job's patterns for a job)."""
    metrics = diversity(counts)
    return ScopeDiversity(metrics, float(metrics.total_applications))


def decayed_diversity(
    weights: Sequence[DecayedWeight],
    *,
    half_life_seconds: int,
    at_us: int,
    total_applications: int,
    unique_pattern_count: int,
) -> ScopeDiversity:
    """Diversity of decayed weights at `at_us`: the patterns within 2**-20 of the largest
    weight count, with shares relative to the largest (shares do not depend on the time)."""
    live = [w for w in weights if w.weight > 0]
    if not live or total_applications == 0:
        empty = Diversity(0.0, 0.0, 0.0, unique_pattern_count, 0, total_applications, 0.0)
        return ScopeDiversity(empty, 0.0)
    period_us = half_life_seconds * MICROSECONDS_PER_SECOND
    reference_us = max(w.landmark_us for w in live)
    # log2 of each weight, relative to the reference landmark; landmark differences are exact
    # integers, so no precision is lost to the size of the times themselves.
    logs = [math.log2(w.weight) + (w.landmark_us - reference_us) / period_us for w in live]
    largest = max(logs)
    relative = [2.0 ** (log - largest) for log in logs if log - largest >= DROP_OUT_LOG2]
    everything = math.fsum(2.0 ** (log - largest) for log in logs)
    total = math.fsum(relative)
    metrics = _from_shares(
        [share / total for share in relative], unique_pattern_count, total_applications
    )
    return ScopeDiversity(
        metrics, _scaled(everything, largest + (reference_us - at_us) / period_us)
    )


def explore_keys(weights: Sequence[DecayedWeight], *, half_life_seconds: int) -> dict[str, float]:
    """log2 of each pattern's decayed weight, up to one shared constant: ordered as the
    weights are at any time (patterns without a row weigh nothing: -inf)."""
    if not weights:
        return {}
    period_us = half_life_seconds * MICROSECONDS_PER_SECOND
    reference_us = max(w.landmark_us for w in weights)
    return {
        w.pattern_id: (
            math.log2(w.weight) + (w.landmark_us - reference_us) / period_us
            if w.weight > 0
            else -math.inf
        )
        for w in weights
    }


def filled_weight(applied_us: Sequence[int], half_life_seconds: int) -> tuple[int, float]:
    """(landmark, weight) of an accumulator filled from stored applications: the landmark is
    the latest, so every term is at most 1."""
    landmark = max(applied_us)
    period_us = half_life_seconds * MICROSECONDS_PER_SECOND
    return landmark, math.fsum(2.0 ** ((t - landmark) / period_us) for t in applied_us)


def _scaled(value: float, log2_factor: float) -> float:
    """value * 2**log2_factor, saturating at the largest float (a clock far behind every
    landmark) instead of overflowing."""
    try:
        return value * math.pow(2.0, log2_factor)
    except OverflowError:
        return sys.float_info.max


def _from_shares(shares: Sequence[float], unique_pattern_count: int, total: int) -> Diversity:
    # `0.0 - sum` rather than `-sum`: a single pattern gives 0.0, never -0.0 ("-0.000").
    entropy = 0.0 - math.fsum(p * math.log2(p) for p in shares if p > 0)
    max_entropy = math.log2(len(shares)) if len(shares) > 1 else 1.0
    return Diversity(
        shannon_entropy=entropy,
        max_possible_entropy=max_entropy,
        diversity_index=entropy / max_entropy if max_entropy > 0 else 0.0,
        unique_pattern_count=unique_pattern_count,
        effective_pattern_count=len(shares),
        total_applications=total,
        dominant_pattern_share=max(shares),
    )
