"""Fixtures for the migration tests: a fresh, empty database of the suite's kind per test.

`alembic_config` and `alembic_engine` are the two fixtures pytest-alembic asks its users to
provide; they point its built-in tests at the same throwaway database (a SQLite file, or a
PostgreSQL database created and dropped on EB_TEST_POSTGRES_URL's server) as our own tests.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_alembic
from alembic.config import Config as AlembicConfig
from pytest_alembic.config import Config as PytestAlembicConfig
from pytest_alembic.runner import MigrationContext
from sqlalchemy import Engine

from app.cli import alembic_config as app_alembic_config
from app.core.db import create_db_engine
from app.core.settings import Settings
from tests.support import TEST_DATABASE, throwaway_database


@pytest.fixture
def throwaway_settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at a new, empty database, dropped after the test."""
    with throwaway_database(TEST_DATABASE, tmp_path) as url:
        yield Settings(database_url=url)


@pytest.fixture
def migrations(throwaway_settings: Settings) -> AlembicConfig:
    """The project's own Alembic configuration (as `entropy-budget migrate` builds it), on the
    throwaway database; Alembic's logging setup is left out so pytest keeps its handlers."""
    config = app_alembic_config(throwaway_settings)
    config.attributes["configure_logging"] = False
    return config


@pytest.fixture
def alembic_engine(throwaway_settings: Settings) -> Iterator[Engine]:
    """pytest-alembic's database: our engine (SQLite pragmas, psycopg 3), without a pool."""
    engine = create_db_engine(throwaway_settings, pooled=False)
    yield engine
    engine.dispose()


@pytest.fixture
def alembic_config(migrations: AlembicConfig) -> PytestAlembicConfig:
    """pytest-alembic's configuration: the project's alembic.ini and env.py, unchanged."""
    return PytestAlembicConfig(alembic_config=migrations)


@pytest.fixture
def alembic_runner(
    alembic_config: PytestAlembicConfig, alembic_engine: Engine
) -> Iterator[MigrationContext]:
    """pytest-alembic's runner, defined here because its plugin is disabled (pyproject.toml)."""
    with pytest_alembic.runner(config=alembic_config, engine=alembic_engine) as context:
        yield context
