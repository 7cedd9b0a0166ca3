"""Policy defaults and versions, and the explore/exploit pick: no I/O here."""

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from app.budget.rules import AdjustmentPolicy, Bounds
from app.core.settings import Settings
from app.diversity.schemas import DiversityPolicy
from app.jobs.schemas import Policy, ResponsePolicy, SelectionMode
from app.responses.schemas import ResponseConfig


def default_policy(settings: Settings) -> Policy:
    """The server defaults, for every job without a policy of its own."""
    return Policy(
        floor=settings.policy_floor,
        ceiling=settings.policy_ceiling,
        decay_rate=settings.policy_decay_rate,
        boost_amount=settings.policy_boost_amount,
        entropy_threshold=settings.policy_entropy_threshold,
        initial_budget=settings.policy_initial_budget,
        response=ResponsePolicy(
            enabled=settings.policy_response_enabled,
            threshold=settings.policy_response_threshold,
            cooldown_seconds=settings.policy_response_cooldown_seconds,
            boost_budget=settings.policy_response_boost_budget,
            revisit_quarantine=settings.policy_response_revisit_quarantine,
            max_quarantine_revisits=settings.policy_response_max_quarantine_revisits,
            budget_boost_amount=settings.policy_response_budget_boost_amount,
        ),
        diversity=DiversityPolicy(
            scope=settings.policy_diversity_scope,
            half_life_seconds=settings.policy_diversity_half_life_seconds,
        ),
    )


def policy_etag(version: int, policy: Policy) -> str:
    """Version and content: a stored policy's ETag changes with every PUT, and the defaults'
    (version 0) change when the server's defaults do."""
    digest = hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:16]
    return f'"{version}-{digest}"'


def if_match_allows(if_match: str | None, current_etag: str) -> bool:
    """RFC 9110 If-Match with strong comparison; absent allows, `*` matches any policy."""
    if if_match is None:
        return True
    candidates = {candidate.strip() for candidate in if_match.split(",")}
    return "*" in candidates or current_etag in candidates


def adjustment_policy(policy: Policy) -> AdjustmentPolicy:
    return AdjustmentPolicy(
        bounds=Bounds(policy.floor, policy.ceiling),
        decay_rate=policy.decay_rate,
        boost_amount=policy.boost_amount,
        entropy_threshold=policy.entropy_threshold,
        initial_budget=policy.initial_budget,
    )


def response_config(policy: Policy) -> ResponseConfig:
    """The response step of a reading clamps to the policy's own floor and ceiling."""
    return ResponseConfig(
        boost_budget=policy.response.boost_budget,
        revisit_quarantine=policy.response.revisit_quarantine,
        max_quarantine_revisits=policy.response.max_quarantine_revisits,
        budget_floor=policy.floor,
        budget_ceiling=policy.ceiling,
        budget_boost_amount=policy.response.budget_boost_amount,
    )


@dataclass(frozen=True)
class Candidate:
    pattern_id: str
    application_count: int
    success_count: int
    outcome_count: int
    scope_weight: float | None = None
    """Its weight in the policy's diversity scope (or a number ordered alike), when that is not
    the global all-time count."""

    @property
    def explore_weight(self) -> float:
        """What exploring minimises: the weight in the policy's scope."""
        return self.application_count if self.scope_weight is None else self.scope_weight

    @property
    def success_rate(self) -> float:
        """Successes among applications with a known outcome; 0 when none is known yet."""
        return self.success_count / self.outcome_count if self.outcome_count else 0.0


def choose(
    candidates: Sequence[Candidate], budget: float, rng: random.Random
) -> tuple[Candidate, SelectionMode]:
    """Explore with probability `budget` (the least weight in the policy's scope), else exploit
    (the best success rate); ties are broken by `rng`, over candidates in id order for
    reproducibility."""
    ordered = sorted(candidates, key=lambda candidate: candidate.pattern_id)
    if rng.random() < budget:
        fewest = min(candidate.explore_weight for candidate in ordered)
        pool = [c for c in ordered if c.explore_weight == fewest]
        return rng.choice(pool), "explore"
    best = max(candidate.success_rate for candidate in ordered)
    pool = [c for c in ordered if c.success_rate == best]
    return rng.choice(pool), "exploit"
