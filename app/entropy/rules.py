"""Shannon diversity of the pattern population, as the seed store defines it."""

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Diversity:
    shannon_entropy: float
    max_possible_entropy: float
    diversity_index: float
    unique_pattern_count: int
    effective_pattern_count: int
    total_applications: int
    dominant_pattern_share: float


def diversity(application_counts: Sequence[int]) -> Diversity:
    """H = -sum p log2 p over patterns with at least one application, normalised by log2 of
    their number (1.0 when there is at most one); all zero when nothing has been applied."""
    used = [count for count in application_counts if count > 0]
    total = sum(used)
    if total == 0:
        return Diversity(0.0, 0.0, 0.0, len(application_counts), 0, 0, 0.0)
    shares = [count / total for count in used]
    # `0.0 - sum` rather than `-sum`: a single pattern gives 0.0, never -0.0 ("-0.000").
    entropy = 0.0 - sum(p * math.log2(p) for p in shares if p > 0)
    max_entropy = math.log2(len(used)) if len(used) > 1 else 1.0
    return Diversity(
        shannon_entropy=entropy,
        max_possible_entropy=max_entropy,
        diversity_index=entropy / max_entropy if max_entropy > 0 else 0.0,
        unique_pattern_count=len(application_counts),
        effective_pattern_count=len(used),
        total_applications=total,
        dominant_pattern_share=max(shares),
    )
