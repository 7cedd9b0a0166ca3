"""The budget arithmetic of app/budget/rules.py, without HTTP or a database."""

import pytest

from app.budget.rules import (
    AdjustmentPolicy,
    Bounds,
    BudgetDecision,
    adjust_for_entropy,
    boost_for_response,
    enforce_bounds,
)

DEFAULT_BOUNDS = Bounds(0.05, 0.50)


# enforce_bounds ------------------------------------------------------------------------------


def test_defaults_are_the_seeds_numbers() -> None:
    policy = AdjustmentPolicy()
    assert (policy.bounds.floor, policy.bounds.ceiling) == (0.05, 0.50)
    assert policy.decay_rate == 0.95
    assert policy.boost_amount == 0.10
    assert policy.entropy_threshold == 0.3
    assert policy.initial_budget == 0.15


def test_value_inside_bounds_keeps_value_type_and_reason() -> None:
    assert enforce_bounds(0.2, "manual", "by hand", DEFAULT_BOUNDS) == BudgetDecision(
        0.2, "manual", "by hand"
    )


def test_value_inside_bounds_keeps_a_missing_reason() -> None:
    assert enforce_bounds(0.3, "boost", None, DEFAULT_BOUNDS) == BudgetDecision(0.3, "boost", None)


def test_value_below_floor_is_clamped_and_relabelled_floor_enforced() -> None:
    assert enforce_bounds(0.01, "decay", "whatever", DEFAULT_BOUNDS) == BudgetDecision(
        0.05, "floor_enforced", "Budget 0.010 enforced to floor 0.050"
    )


def test_value_above_ceiling_is_clamped_and_relabelled_ceiling_enforced() -> None:
    assert enforce_bounds(0.55, "boost", "whatever", DEFAULT_BOUNDS) == BudgetDecision(
        0.50, "ceiling_enforced", "Budget 0.550 enforced to ceiling 0.500"
    )


@pytest.mark.parametrize("value", [0.05, 0.50])
def test_value_exactly_at_a_bound_keeps_the_callers_type(value: float) -> None:
    assert enforce_bounds(value, "manual", "at the edge", DEFAULT_BOUNDS) == BudgetDecision(
        value, "manual", "at the edge"
    )


def test_equal_floor_and_ceiling_pin_the_value() -> None:
    bounds = Bounds(0.2, 0.2)
    assert enforce_bounds(0.2, "manual", None, bounds) == BudgetDecision(0.2, "manual", None)
    assert enforce_bounds(0.1, "manual", None, bounds).adjustment_type == "floor_enforced"
    assert enforce_bounds(0.3, "manual", None, bounds).adjustment_type == "ceiling_enforced"


# adjust_for_entropy --------------------------------------------------------------------------


def test_no_history_gives_the_initial_budget() -> None:
    assert adjust_for_entropy(None, 0.9, AdjustmentPolicy()) == BudgetDecision(
        0.15, "initial", "Initial budget set"
    )


def test_no_history_ignores_the_entropy() -> None:
    assert adjust_for_entropy(None, 0.0, AdjustmentPolicy()) == adjust_for_entropy(
        None, 1.0, AdjustmentPolicy()
    )


def test_initial_budget_above_ceiling_is_relabelled_ceiling_enforced() -> None:
    policy = AdjustmentPolicy(initial_budget=0.8)
    assert adjust_for_entropy(None, 0.5, policy) == BudgetDecision(
        0.5, "ceiling_enforced", "Budget 0.800 enforced to ceiling 0.500"
    )


def test_initial_budget_below_floor_is_relabelled_floor_enforced() -> None:
    policy = AdjustmentPolicy(initial_budget=0.01)
    assert adjust_for_entropy(None, 0.5, policy) == BudgetDecision(
        0.05, "floor_enforced", "Budget 0.010 enforced to floor 0.050"
    )


def test_entropy_strictly_below_threshold_boosts() -> None:
    decision = adjust_for_entropy(0.15, 0.2, AdjustmentPolicy())
    assert decision.adjustment_type == "boost"
    assert decision.budget_value == pytest.approx(0.25)
    assert decision.adjustment_reason == "Entropy 0.200 < threshold 0.300"


def test_entropy_equal_to_threshold_decays() -> None:
    decision = adjust_for_entropy(0.2, 0.3, AdjustmentPolicy())
    assert decision.adjustment_type == "decay"
    assert decision.budget_value == pytest.approx(0.2 * 0.95)
    assert decision.adjustment_reason == "Entropy 0.300 >= threshold, decaying"


def test_decay_multiplies_by_the_decay_rate() -> None:
    decision = adjust_for_entropy(0.4, 0.9, AdjustmentPolicy(decay_rate=0.5))
    assert decision == BudgetDecision(0.2, "decay", "Entropy 0.900 >= threshold, decaying")


def test_boost_adds_the_boost_amount() -> None:
    decision = adjust_for_entropy(0.1, 0.0, AdjustmentPolicy(boost_amount=0.25))
    assert decision.adjustment_type == "boost"
    assert decision.budget_value == pytest.approx(0.35)
    assert decision.adjustment_reason == "Entropy 0.000 < threshold 0.300"


def test_custom_threshold_appears_in_the_boost_reason() -> None:
    decision = adjust_for_entropy(0.1, 0.6, AdjustmentPolicy(entropy_threshold=0.75))
    assert decision.adjustment_type == "boost"
    assert decision.adjustment_reason == "Entropy 0.600 < threshold 0.750"


def test_boost_is_clamped_to_ceiling() -> None:
    assert adjust_for_entropy(0.45, 0.1, AdjustmentPolicy()) == BudgetDecision(
        0.5, "ceiling_enforced", "Budget 0.550 enforced to ceiling 0.500"
    )


def test_decay_is_clamped_to_floor() -> None:
    # 0.05 * 0.95 = 0.0475, shown with three decimals as 0.048.
    assert adjust_for_entropy(0.05, 0.9, AdjustmentPolicy()) == BudgetDecision(
        0.05, "floor_enforced", "Budget 0.048 enforced to floor 0.050"
    )


def test_decay_with_rate_one_keeps_the_budget() -> None:
    decision = adjust_for_entropy(0.3, 0.9, AdjustmentPolicy(decay_rate=1.0))
    assert (decision.budget_value, decision.adjustment_type) == (0.3, "decay")


# boost_for_response --------------------------------------------------------------------------


def test_response_boost_without_budget_starts_from_the_initial_budget() -> None:
    decision = boost_for_response(None, 0.10, 0.1, 0.3, DEFAULT_BOUNDS)
    assert decision.adjustment_type == "boost"
    assert decision.budget_value == pytest.approx(0.25)
    assert decision.adjustment_reason == "Entropy response: diversity 0.100 < 0.300"


def test_response_boost_adds_to_the_current_budget() -> None:
    decision = boost_for_response(0.2, 0.05, 0.123, 0.4567, DEFAULT_BOUNDS)
    assert decision.budget_value == pytest.approx(0.25)
    assert decision.adjustment_reason == "Entropy response: diversity 0.123 < 0.457"


def test_response_boost_is_clamped_to_ceiling() -> None:
    assert boost_for_response(0.45, 0.10, 0.1, 0.3, DEFAULT_BOUNDS) == BudgetDecision(
        0.5, "ceiling_enforced", "Budget 0.550 enforced to ceiling 0.500"
    )


def test_response_boost_below_floor_is_raised_to_floor() -> None:
    assert boost_for_response(None, 0.10, 0.1, 0.3, Bounds(0.3, 0.5)) == BudgetDecision(
        0.3, "floor_enforced", "Budget 0.250 enforced to floor 0.300"
    )


def test_response_boost_of_zero_from_a_current_budget_is_still_a_boost() -> None:
    assert boost_for_response(0.2, 0.0, 0.1, 0.3, DEFAULT_BOUNDS) == BudgetDecision(
        0.2, "boost", "Entropy response: diversity 0.100 < 0.300"
    )
