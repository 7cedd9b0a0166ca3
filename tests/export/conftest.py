"""The export tests' app: chunks of 3 rows, so every history here spans several chunks and
their boundaries fall between records with the same timestamp."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.core.settings import Settings
from app.main import create_app
from tests.support import ManualClock

CHUNK_ROWS = 3


@pytest.fixture
def export_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, export_chunk_rows=CHUNK_ROWS)


@pytest.fixture
def client(export_settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(export_settings, clock=clock)) as test_client:
        yield test_client
