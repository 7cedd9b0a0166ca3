"""app.jobs.rules.choose on its own: the explore share, and what each mode picks."""

import random
from collections import Counter

import pytest

from app.jobs.rules import Candidate, choose

DRAWS = 20_000
LEAST_APPLIED = Candidate("least-applied", application_count=1, success_count=0, outcome_count=1)
BEST_RATE = Candidate("best-rate", application_count=9, success_count=4, outcome_count=5)
# 2 successes of 8 applications, but only 2 outcomes known: a rate of 1.0 among known outcomes.
BEST_KNOWN = Candidate("best-known", application_count=8, success_count=2, outcome_count=2)


@pytest.mark.parametrize("budget", [0.05, 0.3, 0.5])
def test_choose_explores_with_the_probability_of_the_budget(budget: float) -> None:
    rng = random.Random(7)

    chosen = Counter(choose([BEST_RATE, LEAST_APPLIED], budget, rng) for _ in range(DRAWS))

    explored = chosen[LEAST_APPLIED, "explore"]
    assert abs(explored / DRAWS - budget) <= 0.015
    assert explored + chosen[BEST_RATE, "exploit"] == DRAWS  # each mode picks by its own rule


@pytest.mark.parametrize(("budget", "mode"), [(0.0, "exploit"), (1.0, "explore")])
def test_a_budget_of_zero_never_explores_and_of_one_always_does(budget: float, mode: str) -> None:
    rng = random.Random(7)

    modes = {choose([BEST_RATE, LEAST_APPLIED], budget, rng)[1] for _ in range(1000)}

    assert modes == {mode}


def test_exploit_rates_count_only_applications_with_a_known_outcome() -> None:
    chosen, mode = choose([BEST_RATE, BEST_KNOWN], 0.0, random.Random(7))

    assert (chosen, mode) == (BEST_KNOWN, "exploit")


def test_a_pattern_without_known_outcomes_has_a_rate_of_zero() -> None:
    unknown = Candidate("unknown", application_count=5, success_count=0, outcome_count=0)
    failing = Candidate("failing", application_count=5, success_count=0, outcome_count=5)

    assert unknown.success_rate == 0.0
    chosen = Counter(choose([unknown, failing], 0.0, random.Random(seed))[0] for seed in range(50))
    assert set(chosen) == {unknown, failing}  # a tie, broken by the generator


def test_ties_are_broken_by_the_generator_reproducibly() -> None:
    tied = [Candidate(name, 2, 1, 2) for name in ["c", "a", "b"]]

    def picks(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [choose(tied, 0.5, rng)[0].pattern_id for _ in range(200)]

    assert picks(11) == picks(11)
    assert picks(11) != picks(12)
    assert set(picks(11)) == {"a", "b", "c"}
