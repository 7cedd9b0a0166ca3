"""API key authentication: `Authorization: Bearer <key>`, as pure ASGI middleware.

Keys come from the `API_KEYS` setting (`<scope>:<sha256 hex>`) and from the `api_keys` table
(`entropy-budget keys create|list|revoke`). With no key configured anywhere (no setting, no
key in the table that is not revoked) the service runs open. Otherwise every request needs a
key, except the open routes (health, readiness, the OpenAPI document, the docs and their
assets, the dashboard page and its assets, and `/metrics` unless `METRICS_REQUIRE_KEY`):

- no key, a malformed header, an unknown or a revoked key: 401 with `WWW-Authenticate: Bearer`;
- a `read` key on a write (POST, PUT, PATCH, DELETE): 403. `write` implies `read`.

The caller is put in the request scope (`scope["state"]["caller"]`, `key:<id>` for a key of the
table, `key:sha256:<hash prefix>` for one of the setting), where idempotency keys and the rate
limit find it. Being middleware, this covers every route, the lean readings route included.

The table is not read per request: each worker process caches its keys for
`API_KEYS_CACHE_SECONDS` (5 s), so a revocation (or a new key) takes effect within that time.
A candidate key is hashed, looked up by its hash, and the stored hash compared with
`hmac.compare_digest`. The lookup cannot leak a key through timing: it is keyed by the SHA-256
of the candidate, which an attacker cannot steer towards a stored hash.
"""

import hmac
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core import api_keys
from app.core.clock import Clock
from app.core.db import Database
from app.core.methods import WRITE_METHODS
from app.core.problems import (
    DATABASE_RETRY_AFTER_SECONDS,
    DatabaseUnavailableProblem,
    http_problem,
    problem_response,
)
from app.core.settings import ConfiguredKey, KeyScope

logger = logging.getLogger("app.auth")

OPENAPI_PATH = "/openapi.json"
OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", OPENAPI_PATH, "/docs", "/docs/oauth2-redirect", "/redoc"}
    | {"/dashboard"}
)
OPEN_PREFIXES = ("/static-offline-docs/", "/dashboard/static/")
METRICS_PATH = "/metrics"
REALM = "entropy-budget"


@dataclass(frozen=True)
class Identity:
    """Who is calling: the caller name scoping idempotency keys and the rate limit."""

    caller: str
    scope: KeyScope
    key_hash: str
    key_id: str | None = None
    """The table row's id; None for a key of the `API_KEYS` setting."""


@dataclass(frozen=True)
class KeySnapshot:
    by_hash: Mapping[str, Identity]

    @property
    def active(self) -> bool:
        """Keys are configured: the service is closed to callers without one."""
        return bool(self.by_hash)

    def find(self, key: str) -> Identity | None:
        candidate = api_keys.hash_key(key)
        identity = self.by_hash.get(candidate)
        if identity is None or not hmac.compare_digest(identity.key_hash, candidate):
            return None
        return identity


class KeyStore:
    """The keys of the setting and of the table, the latter cached for `ttl` seconds."""

    def __init__(
        self,
        configured: Iterable[ConfiguredKey],
        database: Database,
        *,
        ttl: float,
        clock: Clock,
    ) -> None:
        self._configured = {
            key.key_hash: Identity(f"key:sha256:{key.key_hash[:16]}", key.scope, key.key_hash)
            for key in configured
        }
        self._database = database
        self._ttl = ttl
        self._clock = clock
        self._snapshot: KeySnapshot | None = None
        self._fresh_until = 0.0
        self._refresh_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._used: dict[str, datetime] = {}

    def cached(self) -> KeySnapshot | None:
        """The snapshot, while it is fresh (the hot path: no thread hop, no query)."""
        if self._snapshot is not None and time.monotonic() < self._fresh_until:
            return self._snapshot
        return None

    def latest(self) -> KeySnapshot | None:
        """The last snapshot loaded, fresh or not (None before the first load)."""
        return self._snapshot

    def refresh(self) -> KeySnapshot:
        """Reload the table's keys unless another thread just did; then record key uses."""
        with self._refresh_lock:
            snapshot = self.cached()
            if snapshot is None:
                started = time.monotonic()
                snapshot = KeySnapshot({**self._load(), **self._configured})
                self._snapshot, self._fresh_until = snapshot, started + self._ttl
        self.flush_uses()
        return snapshot

    def _load(self) -> dict[str, Identity]:
        with self._database.session(write=False) as session:
            rows = api_keys.active_keys(session)
        return {
            key_hash: Identity(
                f"key:{key_id}", "write" if scope == "write" else "read", key_hash, key_id
            )
            for key_id, scope, key_hash in rows
        }

    def mark_used(self, identity: Identity) -> None:
        """Remember that a table key was used (written with the next refresh, not now)."""
        if identity.key_id is not None and identity.key_id not in self._used:
            self._used[identity.key_id] = self._clock()

    def flush_uses(self) -> None:
        """Stamp `last_used_at` of the keys used since the last flush."""
        if not self._used:
            return
        if not self._flush_lock.acquire(blocking=False):
            return  # another thread is flushing; these uses go with the next one
        try:
            used, self._used = self._used, {}
            with self._database.session(write=True) as session:
                api_keys.record_uses(session, used)
                session.commit()
        except (DBAPIError, PoolTimeoutError) as error:
            logger.warning("could not record API key use: %s", error.__class__.__name__)
        finally:
            self._flush_lock.release()


def route_path(scope: Scope) -> str:
    """The request path without the application's root path (a mount or a proxy prefix)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def bearer_token(scope: Scope) -> str | None:
    """The key of an `Authorization: Bearer <key>` header; None when absent or malformed."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or " " in token:
                return None
            return token
    return None


class ApiKeyAuth:
    """401/403 for requests without a fitting key, once keys are configured."""

    def __init__(self, app: ASGIApp, store: KeyStore, *, metrics_require_key: bool) -> None:
        self.app = app
        self.store = store
        self.open_paths = OPEN_PATHS if metrics_require_key else OPEN_PATHS | {METRICS_PATH}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.is_open(route_path(scope)):
            if scope["type"] == "http" and route_path(scope) == OPENAPI_PATH:
                await self._keys()  # the document says whether a key is required
            await self.app(scope, receive, send)
            return
        keys = await self._keys()
        if keys is None:
            problem = DatabaseUnavailableProblem(
                "The API keys cannot be read: the database is unavailable; retry shortly.",
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )
            await problem_response(problem)(scope, receive, send)
            return
        if not keys.active:
            await self.app(scope, receive, send)  # no keys configured: the service runs open
            return
        token = bearer_token(scope)
        identity = keys.find(token) if token is not None else None
        if identity is None:
            await self._unauthorized(token is not None)(scope, receive, send)
            return
        if identity.scope != "write" and scope["method"] in WRITE_METHODS:
            await self._forbidden()(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = identity.caller
        self.store.mark_used(identity)
        await self.app(scope, receive, send)

    async def _keys(self) -> KeySnapshot | None:
        """The fresh snapshot, refreshed when stale; None when the database does not answer."""
        keys = self.store.cached()
        if keys is not None:
            return keys
        try:
            return await run_in_threadpool(self.store.refresh)
        except (DBAPIError, PoolTimeoutError) as error:
            logger.warning("cannot read the API keys: %s", error.__class__.__name__)
            return None

    def is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(OPEN_PREFIXES)

    @staticmethod
    def _unauthorized(key_given: bool) -> ASGIApp:
        if key_given:
            detail = "The API key is unknown or revoked."
            challenge = f'Bearer realm="{REALM}", error="invalid_token"'
        else:
            detail = "This request needs an API key: send `Authorization: Bearer <key>`."
            challenge = f'Bearer realm="{REALM}"'
        return problem_response(http_problem(401, detail, {"WWW-Authenticate": challenge}))

    @staticmethod
    def _forbidden() -> ASGIApp:
        challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="write"'
        return problem_response(
            http_problem(
                403,
                "This API key has the read scope; writes need a key with the write scope.",
                {"WWW-Authenticate": challenge},
            )
        )
