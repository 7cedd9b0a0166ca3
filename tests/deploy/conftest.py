"""The compose deployment's first run, shared by the tests that need its secret files."""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import CONSOLE_SCRIPT, PROJECT_ROOT

FIRST_RUN = "deploy/first-run.sh"


@dataclass(frozen=True)
class FirstRun:
    root: Path  # holds deploy/first-run.sh and, once it ran, secrets/
    output: str

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    def write_key(self) -> str:
        return (self.secrets / "write_key").read_text().strip()


def first_run(root: Path) -> FirstRun:
    """deploy/first-run.sh, run as an operator would (from a copy of the deployment's files),
    with this checkout's console script in place of the image's (`docker compose run ...`)."""
    if not (root / FIRST_RUN).exists():
        (root / "deploy").mkdir(parents=True)
        shutil.copy2(PROJECT_ROOT / FIRST_RUN, root / FIRST_RUN)
    result = subprocess.run(
        ["sh", str(root / FIRST_RUN)],
        cwd="/",
        env={**os.environ, "ENTROPY_BUDGET_CLI": str(CONSOLE_SCRIPT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return FirstRun(root, result.stdout)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """The secrets of one first run, for every test that starts the services' commands."""
    return first_run(tmp_path_factory.mktemp("deployment"))
