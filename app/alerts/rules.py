"""Alert rules shared by the dashboard and the CLI (one implementation, served by the API)."""

from dataclasses import dataclass

FLOOR_SHARE_LIMIT = 0.30
BOOST_TO_DECAY_LIMIT = 2.0
DOMINANT_SHARE_LIMIT = 0.5


@dataclass(frozen=True)
class Alert:
    rule: str
    firing: bool
    value: float
    limit: float
    message: str


def floor_pressure(floor_enforcements: int, total_adjustments: int) -> Alert:
    """The budget keeps hitting its floor: exploration is being starved."""
    share = floor_enforcements / total_adjustments if total_adjustments else 0.0
    return Alert(
        "budget_at_floor",
        share > FLOOR_SHARE_LIMIT,
        share,
        FLOOR_SHARE_LIMIT,
        f"{share:.0%} of adjustments hit the floor (alert above {FLOOR_SHARE_LIMIT:.0%})",
    )


def boost_pressure(boost_count: int, decay_count: int) -> Alert:
    """Boosts outnumber decays: diversity stays low despite exploring."""
    ratio = boost_count / decay_count if decay_count else float(boost_count)
    return Alert(
        "boosts_outpace_decays",
        boost_count > BOOST_TO_DECAY_LIMIT * decay_count,
        ratio,
        BOOST_TO_DECAY_LIMIT,
        f"{boost_count} boosts against {decay_count} decays "
        f"(alert above {BOOST_TO_DECAY_LIMIT:g}x)",
    )


def dominant_pattern(dominant_share: float) -> Alert:
    """One pattern holds most applications: the population is collapsing onto it."""
    return Alert(
        "dominant_pattern",
        dominant_share > DOMINANT_SHARE_LIMIT,
        dominant_share,
        DOMINANT_SHARE_LIMIT,
        f"the most applied pattern holds {dominant_share:.0%} of applications "
        f"(alert above {DOMINANT_SHARE_LIMIT:.0%})",
    )
