"""The response check of app/responses/rules.py, with time and entropy passed in."""

from datetime import UTC, datetime, timedelta

from app.responses.rules import ResponseNeed, evaluate_need

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def need(
    *, since_last: float | None, entropy: float | None, threshold: float = 0.3, cooldown: int = 3600
) -> ResponseNeed:
    return evaluate_need(
        last_response_at=None if since_last is None else NOW - timedelta(seconds=since_last),
        now=NOW,
        cooldown_seconds=cooldown,
        entropy=entropy,
        threshold=threshold,
    )


def test_no_previous_response_and_no_data_is_no_data() -> None:
    assert need(since_last=None, entropy=None) == ResponseNeed(
        False, None, "No pattern applications to analyze", "no_data"
    )


def test_entropy_strictly_below_threshold_needs_a_response() -> None:
    assert need(since_last=None, entropy=0.2) == ResponseNeed(
        True, 0.2, "Entropy 0.200 < threshold 0.300", "below_threshold"
    )


def test_entropy_at_threshold_is_healthy() -> None:
    assert need(since_last=None, entropy=0.3) == ResponseNeed(
        False, 0.3, "Entropy 0.300 >= threshold 0.300 (healthy)", "healthy"
    )


def test_recent_response_is_cooldown_without_entropy() -> None:
    assert need(since_last=0, entropy=0.0) == ResponseNeed(
        False, None, "Cooldown active (3600s remaining)", "cooldown"
    )


def test_remaining_cooldown_is_rounded_to_whole_seconds() -> None:
    assert need(since_last=1000.4, entropy=None).reason == "Cooldown active (2600s remaining)"


def test_cooldown_is_over_when_exactly_cooldown_seconds_have_passed() -> None:
    assert need(since_last=3600, entropy=0.1).status == "below_threshold"
    assert need(since_last=3599.5, entropy=0.1).status == "cooldown"


def test_zero_cooldown_never_blocks() -> None:
    assert need(since_last=0, entropy=None, cooldown=0).status == "no_data"
