"""Configuration read from the environment (and an optional `.env` file), and secrets from files."""

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from limits import RateLimitItem, parse, parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.core import policy_defaults as defaults
from app.observability.logs import LogFormatSetting
from app.webhooks.rules import DEFAULT_RETRY_SCHEDULE, parse_schedule

DEFAULT_DATABASE_URL = "sqlite:///./data/entropy-budget.db"

KeyScope = Literal["read", "write"]
RATE_LIMIT_STORAGE_SCHEMES = frozenset({"memory", "redis", "rediss", "redis+unix"})
_CONFIGURED_KEY = re.compile(r"^(read|write):([0-9a-f]{64})$")


@dataclass(frozen=True)
class ConfiguredKey:
    """One entry of `API_KEYS`: a scope and the SHA-256 (hex) of the key."""

    scope: KeyScope
    key_hash: str


def parse_api_keys(raw: str) -> tuple[ConfiguredKey, ...]:
    """`read:<sha256 hex>,write:<sha256 hex>` (commas or line breaks between entries, so an
    API_KEYS_FILE may hold one a line); ValueError naming the bad entry otherwise.

    Only hashes are accepted: a plaintext key (or anything else) is refused, so a key never has
    to be written into the environment.
    """
    keys: list[ConfiguredKey] = []
    for position, entry in enumerate(re.split(r"[,\s]+", raw.strip()), start=1):
        if not entry:
            continue
        match = _CONFIGURED_KEY.fullmatch(entry.lower())
        if match is None:
            shown = entry.split(":", 1)[0][:10]
            raise ValueError(
                f"API_KEYS entry {position} (starting {shown!r}) is not "
                "'<read|write>:<64 hex digits of the key's SHA-256>'"
            )
        scope: KeyScope = "write" if match.group(1) == "write" else "read"
        keys.append(ConfiguredKey(scope, match.group(2)))
    return tuple(keys)


MAX_HALF_LIFE_SECONDS = 315_360_000
"""Ten years: the longest half-life a scope may name."""


def parse_half_lives(raw: str) -> tuple[int, ...]:
    """`300,3600,86400` as (300, 3600, 86400); ValueError naming a bad entry."""
    half_lives: set[int] = set()
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        if not entry.isdigit() or not 1 <= int(entry) <= MAX_HALF_LIFE_SECONDS:
            raise ValueError(
                f"DIVERSITY_HALF_LIVES entry {entry!r} is not a whole number of seconds "
                f"from 1 to {MAX_HALF_LIFE_SECONDS}"
            )
        half_lives.add(int(entry))
    return tuple(sorted(half_lives))


SECRET_FILE_SETTINGS = ("api_keys", "database_url", "database_password")
"""Settings that may be read from a file instead, named by `<NAME>_FILE` (as the official
database images do with POSTGRES_PASSWORD_FILE): Docker secrets are files in /run/secrets/, so
no secret has to travel in an environment variable."""


def read_secret_files(values: dict[str, Any]) -> dict[str, Any]:
    """Each `<name>_file` of SECRET_FILE_SETTINGS read into `<name>` (surrounding white space,
    such as a final newline, removed), then DATABASE_PASSWORD put into DATABASE_URL.

    A setting given both directly and as a file is refused, as is a password for an SQLite URL
    or for a URL that carries one already: each secret has one place. Messages name variables
    and paths, never contents."""
    values = dict(values)
    for name in SECRET_FILE_SETTINGS:
        path = values.get(f"{name}_file")
        if path is None or str(path) == "":
            continue
        variable = name.upper()
        if values.get(name) not in (None, ""):
            raise ValueError(f"{variable} and {variable}_FILE are both set: give only one")
        try:
            values[name] = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ValueError(f"{variable}_FILE: cannot read {path}: {reason}") from None

    password = values.get("database_password")
    if isinstance(password, SecretStr):
        password = password.get_secret_value()
    if password:
        try:
            url = make_url(values.get("database_url") or DEFAULT_DATABASE_URL)
        except ArgumentError:
            raise ValueError("DATABASE_URL is not a database URL") from None
        if url.get_backend_name() == "sqlite":
            raise ValueError("DATABASE_PASSWORD is set, but DATABASE_URL is an SQLite file")
        if url.password is not None:
            raise ValueError(
                "DATABASE_URL carries a password and DATABASE_PASSWORD is set: give only one"
            )
        values["database_url"] = url.set(password=password).render_as_string(hide_password=False)
    return values


class Settings(BaseSettings):
    """Every knob the service reads; names are the environment variables, upper-cased."""

    # Errors never echo their input: a misplaced key or a DATABASE_URL's password stays out of
    # the logs.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///path, postgresql://user@host:port/db, or an explicit "
        "SQLAlchemy driver URL.",
    )
    database_url_file: Path | None = Field(
        default=None,
        description="A file holding DATABASE_URL (a Docker secret); exclusive with DATABASE_URL.",
    )
    database_password: SecretStr | None = Field(
        default=None,
        description="The database password, added to DATABASE_URL (which then has none), so "
        "the URL itself is no secret.",
    )
    database_password_file: Path | None = Field(
        default=None,
        description="A file holding DATABASE_PASSWORD (a Docker secret, such as the one "
        "PostgreSQL's image reads with POSTGRES_PASSWORD_FILE).",
    )
    database_pool_size: int = Field(default=5, ge=1, le=100)
    database_max_overflow: int = Field(default=5, ge=0, le=100)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    database_connect_timeout_seconds: int = Field(default=5, ge=1, le=60)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0, le=600_000)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    log_level: str = Field(default="INFO", pattern=r"^(?i:debug|info|warning|error|critical)$")
    log_format: LogFormatSetting = Field(
        default="auto",
        description="json: one JSON object per line on stderr; console: aligned lines for a "
        "person, coloured at a terminal (unless NO_COLOR); auto: console when stderr is a "
        "terminal, JSON otherwise.",
    )
    access_log: bool = Field(
        default=True,
        description="One log line per request (method, path, route, status, duration_ms).",
    )
    readiness_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="GET /readyz answers 503 when the database has not answered by then.",
    )
    metrics_job_budgets: bool = Field(
        default=True,
        description="Export the current budget, and the diversity of a job-scoped policy, of "
        "every job as gauges labelled job_hash (one series per job: turn off when jobs are "
        "counted in the tens of thousands).",
    )
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    idempotency_purge_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        le=86_400,
        description="How often each worker deletes the Idempotency-Keys past their TTL.",
    )

    api_keys: str = Field(
        default="",
        description="Comma-separated `<read|write>:<sha256 hex of the key>`; never plaintext.",
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="A file holding API_KEYS, one entry a line or comma-separated (a Docker "
        "secret); exclusive with API_KEYS.",
    )
    api_keys_cache_seconds: float = Field(
        default=5.0,
        ge=0.0,
        le=300.0,
        description="How long a worker caches the keys table; a revocation takes effect "
        "within this time.",
    )
    metrics_require_key: bool = Field(
        default=False, description="Require a read key for /metrics (open by default)."
    )
    rate_limit_enabled: bool = True
    rate_limit: str = Field(
        default="6000/minute",
        description="Requests per caller (API key, else client address) and worker process, "
        "in the `limits` notation: `100/second`, `6000/minute`, `10 per 5 seconds`.",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where the counts live. memory://: in each worker process (a caller "
        "spread over W workers and R replicas may reach W x R x RATE_LIMIT). "
        "redis://[:password@]host:port/db (rediss:// with TLS, redis+unix:///path): one count "
        "per caller shared by every worker and replica. If Redis fails, requests are served "
        "unchecked (fail-open), logged and counted in entropy_budget_rate_limit_unchecked_total.",
    )
    rate_limit_key_prefix: str = Field(
        default="entropy-budget",
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="Prefix of the rate-limit keys in Redis: deployments sharing a Redis "
        "count apart when their prefixes differ.",
    )
    rate_limit_strategy: Literal["fixed-window", "moving-window", "sliding-window-counter"] = Field(
        default="fixed-window",
        description="fixed-window: one counter per caller and window, the cheapest (about 3 us "
        "a request), bursts of up to twice the limit across a window boundary; moving-window: "
        "exact over any window, about 10 us a request.",
    )
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

    # Server defaults of the per-job policy, for jobs without their own.
    policy_floor: float = Field(default=defaults.DEFAULT_FLOOR, ge=0.0, le=1.0)
    policy_ceiling: float = Field(default=defaults.DEFAULT_CEILING, ge=0.0, le=1.0)
    policy_decay_rate: float = Field(default=defaults.DEFAULT_DECAY_RATE, gt=0.0, le=1.0)
    policy_boost_amount: float = Field(default=defaults.DEFAULT_BOOST_AMOUNT, ge=0.0, le=1.0)
    policy_entropy_threshold: float = Field(
        default=defaults.DEFAULT_ENTROPY_THRESHOLD, ge=0.0, le=1.0
    )
    policy_initial_budget: float = Field(default=defaults.INITIAL_BUDGET, ge=0.0, le=1.0)
    policy_response_enabled: bool = defaults.DEFAULT_RESPONSE_ENABLED
    policy_response_threshold: float = Field(
        default=defaults.DEFAULT_RESPONSE_THRESHOLD, ge=0.0, le=1.0
    )
    policy_response_cooldown_seconds: int = Field(
        default=defaults.DEFAULT_COOLDOWN_SECONDS, ge=0, le=31_536_000
    )
    policy_response_boost_budget: bool = defaults.DEFAULT_BOOST_BUDGET
    policy_response_revisit_quarantine: bool = defaults.DEFAULT_REVISIT_QUARANTINE
    policy_response_max_quarantine_revisits: int = Field(
        default=defaults.DEFAULT_MAX_QUARANTINE_REVISITS, ge=0, le=100
    )
    policy_response_budget_boost_amount: float = Field(
        default=defaults.DEFAULT_RESPONSE_BOOST_AMOUNT, ge=0.0, le=1.0
    )
    policy_diversity_scope: Literal["global", "job"] = Field(
        default="global",
        description="What readings without an entropy measure by default: every job's "
        "applications (global, the seed's) or the job's own.",
    )
    policy_diversity_half_life_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HALF_LIFE_SECONDS,
        description="The default diversity half-life (one of DIVERSITY_HALF_LIVES); absent: "
        "all-time counts (the seed's).",
    )

    diversity_half_lives: str = Field(
        default="300,3600,86400",
        description="Half-lives (seconds, comma-separated) the service registers at startup "
        "and fills from the stored applications; empty: none. Every writer keeps every "
        "registered half-life, whatever this says (`entropy-budget diversity drop H` "
        "unregisters one).",
    )
    webhooks_retry_schedule: str = Field(
        default=DEFAULT_RETRY_SCHEDULE,
        description="Delays before each retry of a failed webhook attempt (jittered by 10%), "
        "comma-separated durations with a unit (ms, s, m, h, d); after the last: failed.",
    )
    webhooks_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Total deadline of one webhook attempt: resolving, connecting, TLS, "
        "sending and the answer's status line and headers.",
    )
    webhooks_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a claimed message is this dispatcher's; a message whose lease "
        "expired (its dispatcher died) is claimed again. Keep it above the timeout.",
    )
    webhooks_max_in_flight_per_endpoint: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Attempts in flight to one endpoint, across every worker and replica.",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Allow http:// endpoints and addresses that are not global (loopback, "
        "private networks): tests and single-host setups only.",
    )
    webhooks_dispatch: bool = Field(
        default=True,
        description="Run a webhook dispatcher in each worker process (off: this process "
        "only writes the outbox; another process must deliver).",
    )
    webhooks_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often an idle dispatcher looks for messages to deliver.",
    )
    webhooks_dispatch_concurrency: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="Attempts one worker process has in flight at once (all endpoints).",
    )
    retention_days: float | None = Field(
        default=None,
        ge=0,
        description="Days of history kept: budget records, entropy responses, diversity "
        "snapshots, pattern applications and finished webhook messages older than this are "
        "pruned (absent: kept forever). The RETENTION_DAYS_* settings override it for one "
        "history.",
    )
    retention_days_budget: float | None = Field(default=None, ge=0)
    retention_days_responses: float | None = Field(default=None, ge=0)
    retention_days_snapshots: float | None = Field(default=None, ge=0)
    retention_days_applications: float | None = Field(default=None, ge=0)
    retention_days_webhooks: float | None = Field(default=None, ge=0)
    retention_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        le=86_400,
        description="How often each worker runs a pruning pass (when a retention is set).",
    )
    retention_batch_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Rows a pruning transaction deletes at most: each batch is short, so "
        "writers wait for one batch at most.",
    )
    retention_batch_pause_seconds: float = Field(
        default=0.2,
        ge=0,
        le=60,
        description="Pause between two pruning batches, leaving the database to the writers: at "
        "0.2 s readings keep over 0.9 of their throughput while a pass runs, and a pass still "
        "removes rows more than twice as fast as 1,000 readings/s add them.",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        return read_secret_files(data) if isinstance(data, dict) else data

    @field_validator("api_keys")
    @classmethod
    def _valid_api_keys(cls, value: str) -> str:
        parse_api_keys(value)  # refuse a malformed list at startup, not at the first request
        return value

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        try:
            items = parse_many(value)
        except ValueError:
            items = []
        if len(items) != 1 or items[0].amount < 1:
            raise ValueError(
                f"{value!r} is not one rate limit such as '6000/minute' or '100 per second'"
            )
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _valid_rate_limit_storage(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in RATE_LIMIT_STORAGE_SCHEMES:
            raise ValueError(
                "RATE_LIMIT_STORAGE is memory:// or a Redis URL (redis://host:port/db, "
                "rediss://..., redis+unix:///path)"
            )
        return value

    @field_validator("webhooks_retry_schedule")
    @classmethod
    def _valid_retry_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("diversity_half_lives")
    @classmethod
    def _valid_half_lives(cls, value: str) -> str:
        parse_half_lives(value)
        return value

    @model_validator(mode="after")
    def _default_half_life_registered(self) -> "Settings":
        half_life = self.policy_diversity_half_life_seconds
        if half_life is not None and half_life not in self.diversity_half_life_seconds:
            raise ValueError(
                f"POLICY_DIVERSITY_HALF_LIFE_SECONDS={half_life} is not one of "
                f"DIVERSITY_HALF_LIVES ({self.diversity_half_lives or 'none'})"
            )
        return self

    @property
    def diversity_half_life_seconds(self) -> tuple[int, ...]:
        """DIVERSITY_HALF_LIVES as distinct integers, ascending."""
        return parse_half_lives(self.diversity_half_lives)

    @property
    def configured_keys(self) -> tuple[ConfiguredKey, ...]:
        return parse_api_keys(self.api_keys)

    @property
    def rate_limit_item(self) -> RateLimitItem:
        return parse(self.rate_limit)

    @property
    def webhooks_retry_delays(self) -> tuple[float, ...]:
        """WEBHOOKS_RETRY_SCHEDULE in seconds."""
        return parse_schedule(self.webhooks_retry_schedule)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings()


def app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests create apps with their own)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
