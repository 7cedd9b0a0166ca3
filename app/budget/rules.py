"""The budget arithmetic of the seed store, free of I/O so every writer path shares it."""

from dataclasses import dataclass
from typing import Literal

from app.core.policy_defaults import (
    DEFAULT_BOOST_AMOUNT,
    DEFAULT_CEILING,
    DEFAULT_DECAY_RATE,
    DEFAULT_ENTROPY_THRESHOLD,
    DEFAULT_FLOOR,
    INITIAL_BUDGET,
)

AdjustmentType = Literal[
    "initial", "decay", "boost", "floor_enforced", "ceiling_enforced", "manual"
]


@dataclass(frozen=True)
class Bounds:
    floor: float = DEFAULT_FLOOR
    ceiling: float = DEFAULT_CEILING


@dataclass(frozen=True)
class AdjustmentPolicy:
    bounds: Bounds = Bounds()
    decay_rate: float = DEFAULT_DECAY_RATE
    boost_amount: float = DEFAULT_BOOST_AMOUNT
    entropy_threshold: float = DEFAULT_ENTROPY_THRESHOLD
    initial_budget: float = INITIAL_BUDGET


@dataclass(frozen=True)
class BudgetDecision:
    """The next record of a job's budget chain, before it is stamped and stored."""

    budget_value: float
    adjustment_type: str
    adjustment_reason: str | None


def enforce_bounds(
    proposed: float, adjustment_type: str, reason: str | None, bounds: Bounds
) -> BudgetDecision:
    """Clamp into [floor, ceiling]; only a value strictly outside is relabelled."""
    if proposed < bounds.floor:
        return BudgetDecision(
            bounds.floor,
            "floor_enforced",
            f"Budget {proposed:.3f} enforced to floor {bounds.floor:.3f}",
        )
    if proposed > bounds.ceiling:
        return BudgetDecision(
            bounds.ceiling,
            "ceiling_enforced",
            f"Budget {proposed:.3f} enforced to ceiling {bounds.ceiling:.3f}",
        )
    return BudgetDecision(proposed, adjustment_type, reason)


def adjust_for_entropy(
    current: float | None, entropy: float, policy: AdjustmentPolicy
) -> BudgetDecision:
    """Initial budget when there is no history; boost below the threshold, decay at or above."""
    if current is None:
        return enforce_bounds(policy.initial_budget, "initial", "Initial budget set", policy.bounds)
    if entropy < policy.entropy_threshold:
        return enforce_bounds(
            current + policy.boost_amount,
            "boost",
            f"Entropy {entropy:.3f} < threshold {policy.entropy_threshold:.3f}",
            policy.bounds,
        )
    return enforce_bounds(
        current * policy.decay_rate,
        "decay",
        f"Entropy {entropy:.3f} >= threshold, decaying",
        policy.bounds,
    )


def boost_for_response(
    current: float | None,
    boost_amount: float,
    entropy_at_trigger: float,
    threshold_used: float,
    bounds: Bounds,
) -> BudgetDecision:
    """An entropy response always boosts, from the initial budget when the job has none."""
    start = INITIAL_BUDGET if current is None else current
    return enforce_bounds(
        start + boost_amount,
        "boost",
        f"Entropy response: diversity {entropy_at_trigger:.3f} < {threshold_used:.3f}",
        bounds,
    )
