"""Configuration read from the environment (and an optional `.env` file)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./data/entropy-budget.db"


class Settings(BaseSettings):
    """Every knob the service reads; names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///path, postgresql://user@host:port/db, or an explicit "
        "SQLAlchemy driver URL.",
    )
    database_pool_size: int = Field(default=5, ge=1, le=100)
    database_max_overflow: int = Field(default=5, ge=0, le=100)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    database_connect_timeout_seconds: int = Field(default=5, ge=1, le=60)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0, le=600_000)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    log_level: str = Field(default="INFO", pattern=r"^(?i:debug|info|warning|error|critical)$")
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)

    export_chunk_rows: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Rows a streamed history export reads per query (and writes per chunk).",
    )
    export_max_concurrent: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Streamed exports one worker process runs at once; each holds a pooled "
        "connection while it streams. Beyond it: 503 with Retry-After.",
    )

    readings_group_commit: bool = Field(
        default=True,
        description="Apply concurrent readings of a worker in one transaction (group commit).",
    )
    readings_batch_max: int = Field(default=256, ge=1, le=10_000)
    readings_batch_wait_ms: float = Field(default=1.0, ge=0.0, le=100.0)
    readings_queue_size: int = Field(default=4096, ge=1, le=1_000_000)

    # Server defaults of the per-job policy (the seed's numbers), for jobs without their own.
    policy_floor: float = Field(default=0.05, ge=0.0, le=1.0)
    policy_ceiling: float = Field(default=0.50, ge=0.0, le=1.0)
    policy_decay_rate: float = Field(default=0.95, gt=0.0, le=1.0)
    policy_boost_amount: float = Field(default=0.10, ge=0.0, le=1.0)
    policy_entropy_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    policy_initial_budget: float = Field(default=0.15, ge=0.0, le=1.0)
    policy_response_enabled: bool = True
    policy_response_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    policy_response_cooldown_seconds: int = Field(default=3600, ge=0, le=31_536_000)
    policy_response_boost_budget: bool = True
    policy_response_revisit_quarantine: bool = True
    policy_response_max_quarantine_revisits: int = Field(default=3, ge=0, le=100)
    policy_response_budget_boost_amount: float = Field(default=0.10, ge=0.0, le=1.0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings()
