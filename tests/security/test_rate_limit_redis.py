"""The shared rate limit (RATE_LIMIT_STORAGE=redis://...): real uvicorn server processes counting
in the real Redis of this machine (127.0.0.1:6379), each test in its own key namespace, removed
afterwards; and fail-open when Redis cannot be reached."""

import json
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from pydantic import ValidationError

from app.core.settings import Settings
from tests.observability.scrape import parse, value
from tests.support import Server, uvicorn_server

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/0"
LIMIT = 7
LIMITED_PATH = "/v1/jobs"


@pytest.fixture
def key_prefix() -> Iterator[str]:
    """A namespace of this test's own; its keys are deleted afterwards."""
    prefix = f"eb-test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"the tests need the Redis server at {REDIS_URL}")
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def limited_env(storage: str, prefix: str) -> dict[str, str]:
    return {
        "RATE_LIMIT": f"{LIMIT}/hour",  # no window ends during a test
        "RATE_LIMIT_STORAGE": storage,
        "RATE_LIMIT_KEY_PREFIX": prefix,
    }


def statuses(servers: list[Server], requests: int) -> Counter[int]:
    """`requests` GETs of a limited path, taking turns between the servers, each on a new
    connection; the answers' statuses."""
    counts: Counter[int] = Counter()
    for number in range(requests):
        server = servers[number % len(servers)]
        counts[httpx.get(f"{server.base_url}{LIMITED_PATH}", timeout=30).status_code] += 1
    return counts


def test_two_server_processes_share_one_limit(
    database_url: str, tmp_path: Path, key_prefix: str
) -> None:
    env = limited_env(REDIS_URL, key_prefix)
    with (
        uvicorn_server(database_url, tmp_path, extra_env=env) as first,
        uvicorn_server(database_url, tmp_path, extra_env=env) as second,
    ):
        answered = statuses([first, second], 2 * LIMIT)
        first_alone = statuses([first], 1)

    # Each process alone would have let LIMIT through (2 x LIMIT in all): together, LIMIT.
    assert answered == {200: LIMIT, 429: LIMIT}
    assert first_alone == {429: 1}
    stored = redis.Redis.from_url(REDIS_URL).keys(f"{key_prefix}*")
    assert stored, "the counts are not in Redis under the test's prefix"


def test_with_redis_down_requests_are_served_logged_and_counted(
    database_url: str, tmp_path: Path, key_prefix: str
) -> None:
    down = f"redis://127.0.0.1:{closed_port()}/0"
    requests = 3 * LIMIT
    with uvicorn_server(
        database_url, tmp_path, extra_env=limited_env(down, key_prefix), via_cli=True
    ) as server:
        answered = statuses([server], requests)
        scrape = parse(httpx.get(f"{server.base_url}/metrics", timeout=30).text)
        log = server.log_path.read_text()

    assert answered == {200: requests}  # fail-open: beyond the limit, still served
    assert value(scrape, "entropy_budget_rate_limit_unchecked_total") == requests
    warnings = [
        line
        for line in map(json.loads, filter(lambda text: text.startswith("{"), log.splitlines()))
        if line["logger"] == "app.rate_limit" and line["level"] == "warning"
    ]
    assert warnings, log
    assert "rate limit storage (Redis) failed" in warnings[0]["event"]
    assert "fail-open" in warnings[0]["event"]
    assert len(warnings) < requests  # not one line per request


def test_the_storage_must_be_memory_or_redis() -> None:
    for accepted in ("memory://", REDIS_URL, "rediss://cache:6380/1", "redis+unix:///run/r.sock"):
        assert Settings(rate_limit_storage=accepted).rate_limit_storage == accepted
    for refused in ("", "redis", "memcached://127.0.0.1:11211", "http://127.0.0.1:6379"):
        with pytest.raises(ValidationError, match="RATE_LIMIT_STORAGE"):
            Settings(rate_limit_storage=refused)
