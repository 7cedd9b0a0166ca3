"""Unit tests of app.entropy.rules.diversity: the seed's formulas over application counts."""

import math

import pytest

from app.entropy.rules import Diversity, diversity


def test_no_patterns_is_all_zero() -> None:
    assert diversity([]) == Diversity(0.0, 0.0, 0.0, 0, 0, 0, 0.0)


def test_patterns_without_applications_are_all_zero_but_counted() -> None:
    assert diversity([0, 0, 0]) == Diversity(0.0, 0.0, 0.0, 3, 0, 0, 0.0)


def test_one_used_pattern_has_no_entropy_and_a_max_of_one() -> None:
    result = diversity([5])
    assert result.shannon_entropy == 0.0
    assert result.max_possible_entropy == 1.0
    assert result.diversity_index == 0.0
    assert result.dominant_pattern_share == 1.0
    assert (result.unique_pattern_count, result.effective_pattern_count) == (1, 1)
    assert result.total_applications == 5


def test_even_split_over_four_is_two_bits_and_full_diversity() -> None:
    result = diversity([3, 3, 3, 3])
    assert result.shannon_entropy == pytest.approx(2.0)
    assert result.max_possible_entropy == pytest.approx(2.0)
    assert result.diversity_index == pytest.approx(1.0)
    assert result.dominant_pattern_share == 0.25
    assert result.total_applications == 12


def test_ninety_ten_split() -> None:
    expected = -(0.9 * math.log2(0.9) + 0.1 * math.log2(0.1))  # about 0.469 bits
    result = diversity([90, 10])
    assert result.shannon_entropy == pytest.approx(expected)
    assert result.max_possible_entropy == 1.0  # log2(2)
    assert result.diversity_index == pytest.approx(expected)
    assert result.dominant_pattern_share == pytest.approx(0.9)


def test_unused_patterns_count_as_unique_but_not_effective() -> None:
    with_unused = diversity([0, 1, 0, 1, 0])
    assert (with_unused.unique_pattern_count, with_unused.effective_pattern_count) == (5, 2)
    # The unused ones change neither the entropy nor its maximum.
    without = diversity([1, 1])
    assert with_unused.shannon_entropy == without.shannon_entropy == pytest.approx(1.0)
    assert with_unused.max_possible_entropy == without.max_possible_entropy == pytest.approx(1.0)
    assert with_unused.diversity_index == pytest.approx(1.0)


def test_three_way_uneven_split_against_the_formula() -> None:
    counts = [1, 2, 5]
    shares = [c / 8 for c in counts]
    expected = -sum(p * math.log2(p) for p in shares)
    result = diversity(counts)
    assert result.shannon_entropy == pytest.approx(expected)
    assert result.max_possible_entropy == pytest.approx(math.log2(3))
    assert result.diversity_index == pytest.approx(expected / math.log2(3))
    assert result.dominant_pattern_share == pytest.approx(5 / 8)


def test_the_order_of_counts_does_not_matter() -> None:
    forward, backward = diversity([7, 0, 2, 9]), diversity([9, 2, 0, 7])
    assert forward.shannon_entropy == pytest.approx(backward.shannon_entropy)
    assert forward.diversity_index == pytest.approx(backward.diversity_index)
    assert forward.dominant_pattern_share == backward.dominant_pattern_share


@pytest.mark.parametrize("counts", [[1, 1], [1, 2, 3], [100, 1, 1, 1], [4, 4, 4, 1]])
def test_diversity_stays_within_the_unit_interval(counts: list[int]) -> None:
    result = diversity(counts)
    assert 0.0 <= result.diversity_index <= 1.0 + 1e-12
    assert 0.0 < result.dominant_pattern_share <= 1.0
