"""The policy's default numbers (the seed store's), declared once: the server defaults
(`POLICY_*` settings), the budget and response rules, the request bodies' defaults and the
documented examples all derive from them."""

DEFAULT_FLOOR = 0.05
DEFAULT_CEILING = 0.50
DEFAULT_DECAY_RATE = 0.95
DEFAULT_BOOST_AMOUNT = 0.10
DEFAULT_ENTROPY_THRESHOLD = 0.3
INITIAL_BUDGET = 0.15
"""Also the starting point of an entropy response for a job without any budget record."""

DEFAULT_RESPONSE_ENABLED = True
DEFAULT_RESPONSE_THRESHOLD = DEFAULT_ENTROPY_THRESHOLD
DEFAULT_COOLDOWN_SECONDS = 3600
DEFAULT_BOOST_BUDGET = True
DEFAULT_REVISIT_QUARANTINE = True
DEFAULT_MAX_QUARANTINE_REVISITS = 3
DEFAULT_RESPONSE_BOOST_AMOUNT = DEFAULT_BOOST_AMOUNT

BUDGET_POLICY = {
    "floor": DEFAULT_FLOOR,
    "ceiling": DEFAULT_CEILING,
    "decay_rate": DEFAULT_DECAY_RATE,
    "boost_amount": DEFAULT_BOOST_AMOUNT,
    "entropy_threshold": DEFAULT_ENTROPY_THRESHOLD,
    "initial_budget": INITIAL_BUDGET,
}
"""The budget rule's defaults under the API's field names, for the documented examples."""
RESPONSE_POLICY = {
    "enabled": DEFAULT_RESPONSE_ENABLED,
    "threshold": DEFAULT_RESPONSE_THRESHOLD,
    "cooldown_seconds": DEFAULT_COOLDOWN_SECONDS,
    "boost_budget": DEFAULT_BOOST_BUDGET,
    "revisit_quarantine": DEFAULT_REVISIT_QUARANTINE,
    "max_quarantine_revisits": DEFAULT_MAX_QUARANTINE_REVISITS,
    "budget_boost_amount": DEFAULT_RESPONSE_BOOST_AMOUNT,
}
"""The automatic response's defaults, likewise."""
