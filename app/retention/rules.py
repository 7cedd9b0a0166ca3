"""Retention rules (pure): how long each history is kept, and the time before which a pass
may prune it."""

from datetime import datetime, timedelta

from app.core.settings import Settings

OVERRIDES = {
    "exploration_budget": "retention_days_budget",
    "entropy_responses": "retention_days_responses",
    "pattern_entropy_history": "retention_days_snapshots",
    "pattern_applications": "retention_days_applications",
    "webhook_messages": "retention_days_webhooks",
    "webhook_deliveries": "retention_days_webhooks",
}
"""The pruned tables and the setting that overrides RETENTION_DAYS for each (a message's
deliveries go with it, so both webhook tables follow one setting)."""


def kept_days(settings: Settings, table: str) -> float | None:
    """Days the table's rows are kept; None: forever (neither setting is set)."""
    override: float | None = getattr(settings, OVERRIDES[table])
    return settings.retention_days if override is None else override


def any_retention(settings: Settings) -> bool:
    return any(kept_days(settings, table) is not None for table in OVERRIDES)


def cutoff(now: datetime, days: float, replay_seconds: float) -> datetime:
    """Rows stamped before this may go. Never less than an Idempotency-Key lives: while a
    stored answer can still be replayed, the records its Location names stay readable."""
    return now - max(timedelta(days=days), timedelta(seconds=replay_seconds))
