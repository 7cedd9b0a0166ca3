"""Fixtures of the security tests: keys in the setting and in the table, and clients."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.core import api_keys
from app.core.settings import KeyScope, Settings
from app.main import create_app
from tests.support import ManualClock

WRITE_KEY = "eb_test-write-key-0123456789abcdefghijklmnopqrstuv"
READ_KEY = "eb_test-read-key-0123456789abcdefghijklmnopqrstuvw"
CONFIGURED_KEYS = f"write:{api_keys.hash_key(WRITE_KEY)},read:{api_keys.hash_key(READ_KEY)}"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed_settings(settings: Settings) -> Settings:
    """The test database, with a write and a read key in API_KEYS."""
    return settings.model_copy(update={"api_keys": CONFIGURED_KEYS})


@pytest.fixture
def keyed_client(keyed_settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(keyed_settings, clock=clock)) as client:
        yield client


@pytest.fixture
def make_client(clock: ManualClock) -> Iterator[Callable[..., TestClient]]:
    """A client of an app built from these settings (entered, closed after the test)."""
    clients: list[TestClient] = []

    def make(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings, clock=clock))
        clients.append(client)
        return client.__enter__()

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def table_key(engine: Engine) -> Callable[..., api_keys.CreatedKey]:
    """Create a key in the api_keys table: `table_key("ci", "write")`."""

    def create(name: str, scope: KeyScope = "write") -> api_keys.CreatedKey:
        with Session(engine) as session:
            created = api_keys.create_key(session, name=name, scope=scope, now=datetime.now(UTC))
            session.commit()
            session.expunge_all()
        return created

    return create


@pytest.fixture
def revoke(engine: Engine) -> Callable[[str], None]:
    def revoke_key(name: str) -> None:
        with Session(engine) as session:
            api_keys.revoke_key(session, name, now=datetime.now(UTC))
            session.commit()

    return revoke_key
