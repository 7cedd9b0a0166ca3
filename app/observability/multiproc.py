"""The directory prometheus-client's multiprocess mode keeps every worker's values in.

Deliberately free of prometheus_client imports: prometheus-client decides between in-memory
and per-process files when it is first imported, so the variable must be set before that, in
the process that then starts the workers (`entropy-budget serve`).
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def metrics_directory() -> Iterator[Path]:
    """PROMETHEUS_MULTIPROC_DIR for the server about to start.

    Set by the operator: used as it is (created if missing; emptying it between runs is the
    operator's job, as it may be shared). Unset: a new private directory, exported to the
    environment the workers inherit, and removed with its contents when the server stops."""
    configured = os.environ.get(MULTIPROC_DIR_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="entropy-budget-metrics-"))
    os.environ[MULTIPROC_DIR_ENV] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_DIR_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
