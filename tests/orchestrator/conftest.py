from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.settings import Settings
from app.main import create_app
from tests.orchestrator.helpers import ClientFactory
from tests.support import ManualClock


@pytest.fixture
def make_client(database_url: str, clock: ManualClock) -> ClientFactory:
    """Apps with their own settings (policy defaults, key TTL) on the test database and clock."""

    @contextmanager
    def make(**overrides: Any) -> Iterator[TestClient]:
        settings = Settings(database_url=database_url, **overrides)
        with TestClient(create_app(settings, clock=clock)) as test_client:
            yield test_client

    return make
