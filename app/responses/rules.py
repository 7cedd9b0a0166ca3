"""When an entropy response is due: the seed's check, with the time and entropy passed in."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

CheckStatus = Literal["cooldown", "no_data", "below_threshold", "healthy"]
REVISIT_REASON = "Entropy response: revisiting for revalidation"


@dataclass(frozen=True)
class ResponseNeed:
    needs_response: bool
    current_entropy: float | None
    reason: str
    status: CheckStatus


def evaluate_need(
    *,
    last_response_at: datetime | None,
    now: datetime,
    cooldown_seconds: int,
    entropy: float | None,
    threshold: float,
) -> ResponseNeed:
    """Cooldown first (per job), then data, then entropy strictly below the threshold."""
    if last_response_at is not None:
        elapsed = (now - last_response_at).total_seconds()
        if elapsed < cooldown_seconds:
            remaining = cooldown_seconds - elapsed
            return ResponseNeed(
                False, None, f"Cooldown active ({remaining:.0f}s remaining)", "cooldown"
            )
    if entropy is None:
        return ResponseNeed(False, None, "No pattern applications to analyze", "no_data")
    if entropy < threshold:
        return ResponseNeed(
            True, entropy, f"Entropy {entropy:.3f} < threshold {threshold:.3f}", "below_threshold"
        )
    return ResponseNeed(
        False,
        entropy,
        f"Entropy {entropy:.3f} >= threshold {threshold:.3f} (healthy)",
        "healthy",
    )
