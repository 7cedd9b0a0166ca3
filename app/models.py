"""Tables. Alembic owns their creation (`alembic/versions`); names follow the seed store.

Every table has an insertion sequence `seq` (the primary key) that breaks ties between records
stamped with the same time, and a public string `id`.
"""

from datetime import datetime
from typing import Any, get_args

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.budget.rules import AdjustmentType
from app.core.orm import Base, SequenceKey, UTCDateTime
from app.core.settings import KeyScope
from app.diversity.schemas import PolicyScope
from app.patterns.rules import QuarantineStatus
from app.webhooks.rules import DeliveryStatus

HOT_ROW_STORAGE = {
    "fillfactor": 50,
    "autovacuum_vacuum_scale_factor": 0.0,
    "autovacuum_vacuum_threshold": 2000,
    "autovacuum_vacuum_cost_delay": 0,
    "autovacuum_analyze_scale_factor": 0.05,
}
"""PostgreSQL storage of rows updated in place on every application: half of each page left
free so an update finds room beside its row (a HOT update: no index touched, the old version
reclaimed by page pruning), and autovacuum after a fixed number of dead rows, not after a
share of a table that stays small, without its cost-based pause."""


def _one_of(column: str, vocabulary: Any) -> str:
    """The CHECK constraint keeping `column` within a vocabulary (a `Literal`)."""
    return f"{column} IN ({', '.join(repr(value) for value in get_args(vocabulary))})"


class ExplorationBudget(Base):
    """Append-only budget records; each job's records form a chain numbered by `job_seq`.

    The unique (job_hash, job_seq) pair makes a forked chain (two records derived from the same
    predecessor) impossible even if the per-job lock were ever bypassed.
    """

    __tablename__ = "exploration_budget"
    __table_args__ = (
        UniqueConstraint("job_hash", "job_seq"),
        CheckConstraint(_one_of("adjustment_type", AdjustmentType), name="adjustment_type"),
        Index("ix_exploration_budget_job_recent", "job_hash", "recorded_at", "seq"),
        Index("ix_exploration_budget_recent", "recorded_at", "seq"),
    )

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    job_hash: Mapped[str] = mapped_column(String(128))
    job_seq: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    budget_value: Mapped[float] = mapped_column(Double)
    entropy_at_time: Mapped[float | None] = mapped_column(Double)
    adjustment_type: Mapped[str] = mapped_column(String(32))
    adjustment_reason: Mapped[str | None] = mapped_column(Text)


class EntropyResponse(Base):
    __tablename__ = "entropy_responses"
    __table_args__ = (
        Index("ix_entropy_responses_job_recent", "job_hash", "recorded_at", "seq"),
        Index("ix_entropy_responses_recent", "recorded_at", "seq"),
    )

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    job_hash: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entropy_at_trigger: Mapped[float] = mapped_column(Double)
    threshold_used: Mapped[float] = mapped_column(Double)
    actions_taken: Mapped[list[str]] = mapped_column(JSON)
    budget_boosted: Mapped[bool] = mapped_column(Boolean)
    quarantine_revisits: Mapped[int] = mapped_column(Integer)
    patterns_revisited: Mapped[list[str]] = mapped_column(JSON)


class PatternEntropySnapshot(Base):
    """A diversity measurement kept for trend analysis, with the scope it measured (job_hash
    null: every job; half_life_seconds null: all-time)."""

    __tablename__ = "pattern_entropy_history"
    __table_args__ = (
        Index("ix_pattern_entropy_history_recent", "calculated_at", "seq"),
        Index("ix_pattern_entropy_history_job_recent", "job_hash", "calculated_at", "seq"),
    )

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    calculated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shannon_entropy: Mapped[float] = mapped_column(Double)
    max_possible_entropy: Mapped[float] = mapped_column(Double)
    diversity_index: Mapped[float] = mapped_column(Double)
    unique_pattern_count: Mapped[int] = mapped_column(Integer)
    effective_pattern_count: Mapped[int] = mapped_column(Integer)
    total_applications: Mapped[int] = mapped_column(BigInteger)
    dominant_pattern_share: Mapped[float] = mapped_column(Double)
    threshold_exceeded: Mapped[bool] = mapped_column(Boolean)
    job_hash: Mapped[str | None] = mapped_column(String(128))
    half_life_seconds: Mapped[int | None] = mapped_column(Integer)
    weighted_applications: Mapped[float] = mapped_column(Double)


class Pattern(Base):
    """A reusable strategy. `application_count` and `success_count` are maintained on every
    application, so diversity is computed from one row per pattern instead of a scan."""

    __tablename__ = "patterns"
    __table_args__ = (
        CheckConstraint(_one_of("quarantine_status", QuarantineStatus), name="quarantine_status"),
        Index("ix_patterns_status_recent", "quarantine_status", "last_seen", "seq"),
        Index("ix_patterns_recent", "last_seen", "seq"),
    )

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(128), unique=True)
    pattern_type: Mapped[str] = mapped_column(String(255))
    pattern_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    quarantine_status: Mapped[str] = mapped_column(String(16))
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    quarantined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    application_count: Mapped[int] = mapped_column(BigInteger, default=0)
    success_count: Mapped[int] = mapped_column(BigInteger, default=0)
    outcome_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Applications whose outcome is known (success or failure), the exploit rate's denominator."""
    status_sequence: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """How many times the status changed: each change's `pattern.status_changed` webhook
    carries it, so receivers can drop a stale event that arrives late."""


class PatternApplication(Base):
    __tablename__ = "pattern_applications"
    # Retention walks applications oldest first (app.retention.repository).
    __table_args__ = (Index("ix_pattern_applications_applied", "applied_at", "seq"),)

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    pattern_id: Mapped[str] = mapped_column(ForeignKey("patterns.id"), index=True)
    execution_id: Mapped[str] = mapped_column(String(255))
    job_hash: Mapped[str | None] = mapped_column(String(128))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pattern_led_to_success: Mapped[bool | None] = mapped_column(Boolean)
    retry_count_before: Mapped[int] = mapped_column(Integer)
    retry_count_after: Mapped[int] = mapped_column(Integer)
    grounding_confidence: Mapped[float | None] = mapped_column(Double)


class JobPolicy(Base):
    """A job's own policy; jobs without a row use the server defaults (settings)."""

    __tablename__ = "job_policies"
    __table_args__ = (
        CheckConstraint(_one_of("diversity_scope", PolicyScope), name="diversity_scope"),
    )

    job_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    floor: Mapped[float] = mapped_column(Double)
    ceiling: Mapped[float] = mapped_column(Double)
    decay_rate: Mapped[float] = mapped_column(Double)
    boost_amount: Mapped[float] = mapped_column(Double)
    entropy_threshold: Mapped[float] = mapped_column(Double)
    initial_budget: Mapped[float] = mapped_column(Double)
    response_enabled: Mapped[bool] = mapped_column(Boolean)
    response_threshold: Mapped[float] = mapped_column(Double)
    response_cooldown_seconds: Mapped[int] = mapped_column(Integer)
    response_boost_budget: Mapped[bool] = mapped_column(Boolean)
    response_revisit_quarantine: Mapped[bool] = mapped_column(Boolean)
    response_max_quarantine_revisits: Mapped[int] = mapped_column(Integer)
    response_budget_boost_amount: Mapped[float] = mapped_column(Double)
    diversity_scope: Mapped[str] = mapped_column(String(16), server_default="global")
    diversity_half_life_seconds: Mapped[int | None] = mapped_column(Integer)


class IdempotencyKey(Base):
    """A POST's Idempotency-Key, claimed in the transaction of the write it guards.

    The row is inserted before the work and completed with the response before the commit, so a
    duplicate waits on the unique (caller, key) index and then replays the stored response.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("caller", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    caller: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)


class JobHead(Base):
    """Where each job's chains end, maintained in the transaction that extends them; the row
    is also the job's lock (`app.core.locking`).

    "Most recent" by (time, insertion order) is, by construction, the record with the highest
    job_seq; keeping it here makes a batch's tip lookup part of its lock statement, however
    long the history, and lists jobs without scanning every budget record.
    """

    __tablename__ = "job_heads"

    job_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    budget_job_seq: Mapped[int | None] = mapped_column(Integer)
    budget_value: Mapped[float | None] = mapped_column(Double)
    budget_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    policy_version: Mapped[int | None] = mapped_column(Integer)
    """The version of the job's own policy (None: the server defaults), so that the statement
    locking a batch's jobs also tells which of them need their policy read."""

    # The job's statistics over its whole life, maintained by every transaction that appends
    # to its chains (app.budget.aggregates, app.responses.aggregates): a statistics read is one
    # row, however long the history, and pruning old records does not change them. Each float
    # sum is kept compensated (Neumaier): the true sum is `sum + compensation`.
    budget_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    budget_sum: Mapped[float] = mapped_column(Double, server_default="0")
    budget_sum_compensation: Mapped[float] = mapped_column(Double, server_default="0")
    budget_min: Mapped[float | None] = mapped_column(Double)
    budget_max: Mapped[float | None] = mapped_column(Double)
    budget_initial_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    budget_decay_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    budget_boost_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    budget_floor_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    budget_ceiling_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    response_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    response_entropy_sum: Mapped[float] = mapped_column(Double, server_default="0")
    response_entropy_compensation: Mapped[float] = mapped_column(Double, server_default="0")
    response_boosts: Mapped[int] = mapped_column(BigInteger, server_default="0")
    response_revisits: Mapped[int] = mapped_column(BigInteger, server_default="0")


class ApiKey(Base):
    """An API key managed with `entropy-budget keys`; only its SHA-256 is stored.

    `prefix` (the key's first characters) lets an operator recognise a key in `keys list`
    without storing anything that authenticates. Revoked keys stay, stamped, for the record,
    so a name is never reused: rotate by creating `ci-2`, then revoking `ci`. `last_used_at` is
    written at most once per key cache period (`API_KEYS_CACHE_SECONDS`), not per request.
    """

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_one_of("scope", KeyScope), name="scope"),)

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookEndpoint(Base):
    """A receiver of webhooks. Its signing secret is stored as issued (signing needs it); it
    leaves the service only in the answers that create or rotate it.

    It gets the messages of the events it subscribed to whose sequence is above
    `after_message_seq`, the outbox's last sequence when it was created."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_recent", "created_at", "seq"),)

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(64))
    previous_secret: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    after_message_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookMessage(Base):
    """The outbox: one row per event, written in the transaction of the record it reports.

    `body` is the exact JSON every attempt sends. `fanned_out` turns true once a dispatcher has
    made the message's deliveries (one per subscribed endpoint)."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        Index("ix_webhook_messages_fan_out", "fanned_out", "seq"),
        # Retention walks messages oldest first (app.retention.repository).
        Index("ix_webhook_messages_recent", "occurred_at", "seq"),
    )

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    fanned_out: Mapped[bool] = mapped_column(Boolean)


class WebhookDelivery(Base):
    """One message to one endpoint: its status, its attempts, and its lease while a dispatcher
    holds it (`lease_token` names the claim; an outcome is recorded only under that claim)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_seq", "message_seq"),
        CheckConstraint(_one_of("status", DeliveryStatus), name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_in_flight", "endpoint_seq", "status", "lease_until"),
        Index("ix_webhook_deliveries_endpoint_recent", "endpoint_seq", "created_at", "seq"),
        # Retention asks whether a message has a pending delivery, and deletes its deliveries.
        Index("ix_webhook_deliveries_message", "message_seq", "status"),
    )

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    endpoint_seq: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.seq", ondelete="CASCADE")
    )
    message_seq: Mapped[int] = mapped_column(ForeignKey("webhook_messages.seq"))
    message_id: Mapped[str] = mapped_column(String(40))
    """The message's id and type, copied: the attempts log reads this table alone."""
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    """Failed attempts since the message was (re)queued: the retry schedule's position."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32))


class DiversityHalfLife(Base):
    """A registered half-life: every writer of applications keeps weights for each of these
    (whatever its own settings), so every replica reads the same figures."""

    __tablename__ = "diversity_half_lives"

    half_life_seconds: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobPatternCount(Base):
    """All-time applications of a pattern recorded with a job: the job scope's counts.

    Updated in place on every application; nothing indexes the count (HOT updates)."""

    __tablename__ = "job_pattern_counts"
    __table_args__ = ({"postgresql_with": HOT_ROW_STORAGE},)

    job_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    pattern_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    application_count: Mapped[int] = mapped_column(BigInteger)


class DiversityWeight(Base):
    """A forward-decay accumulator (Cormode et al., ICDE 2009): the decayed weight of a
    pattern's applications in a scope (job_hash '' for every job) for one half-life.

    The weight at time T is `weight * 2 ** ((landmark_us - T) / half_life)` (times in
    microseconds since the epoch). Each row keeps its own landmark and moves it when an
    application lands more than 512 half-lives after it, so no value ever overflows. Updated in
    place on every application; nothing indexes the changing columns (HOT updates)."""

    __tablename__ = "diversity_weights"
    __table_args__ = ({"postgresql_with": HOT_ROW_STORAGE},)

    job_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    pattern_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    half_life_seconds: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    landmark_us: Mapped[int] = mapped_column(BigInteger)
    weight: Mapped[float] = mapped_column(Double)
