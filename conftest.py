"""pytest also collects README.md and docs/*.md: their shell examples run against a live server
(tests/docs/examples.py says how)."""

from pathlib import Path

import pytest

from tests.docs.examples import BLOCK_TIMEOUT_SECONDS, EXAMPLES, is_documentation

collect_examples = EXAMPLES.pytest()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    return collect_examples(file_path, parent) if is_documentation(file_path) else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_documentation(item.path):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.timeout(BLOCK_TIMEOUT_SECONDS))
