"""Fixtures: one migrated database per run (SQLite file or PostgreSQL database), emptied
before every test, and the app served over httpx by Starlette's TestClient."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.cli import alembic_config
from app.core.db import create_db_engine
from app.core.settings import Settings
from app.main import create_app
from tests.support import TEST_DATABASE, ManualClock, throwaway_database

TABLES_CHILD_FIRST = (
    "pattern_applications",
    "patterns",
    "entropy_responses",
    "exploration_budget",
    "pattern_entropy_history",
    "job_policies",
    "idempotency_keys",
    "api_keys",
)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with throwaway_database(TEST_DATABASE, tmp_path_factory.mktemp("db")) as url:
        command.upgrade(alembic_config(Settings(database_url=url)), "head")
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_db_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> None:
    """Every test that touches the database starts from empty tables."""
    if "database_url" not in request.fixturenames:
        return
    engine: Engine = request.getfixturevalue("engine")
    # DELETE, not TRUNCATE: on tables this small it is ~100x cheaper, and nothing depends on
    # the insertion sequences restarting.
    with engine.begin() as connection:
        for table in TABLES_CHILD_FIRST:
            connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path
