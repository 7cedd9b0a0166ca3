"""pytest-alembic's built-in tests, run on the suite's database (see conftest.py).

- test_single_head_revision: the history has exactly one head (no unmerged branches);
- test_upgrade: base -> head applies;
- test_model_definitions_match_ddl: autogenerate against the migrated database yields an empty
  revision (the models and the migrations describe the same DDL);
- test_up_down_consistency: every revision upgrades one at a time, downgrades one at a time back
  to base, and upgrades again;
- test_downgrade_leaves_no_trace (experimental): for every revision, the schema after its
  upgrade and downgrade is the schema from before its upgrade.
"""

from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace

__all__ = [
    "test_downgrade_leaves_no_trace",
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]
