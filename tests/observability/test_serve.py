"""`entropy-budget serve`: the logging uvicorn gets, and the metrics directory its workers share."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app import cli
from app.observability.logs import logging_config
from tests.support import PROJECT_ROOT

runner = CliRunner()
ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    """Run `serve` up to uvicorn.run: its arguments, and the metrics directory it saw."""
    calls: list[tuple[dict[str, Any], str | None]] = []

    def run(*_args: Any, **kwargs: Any) -> None:
        directory = os.environ.get(ENV)
        assert directory is not None
        assert Path(directory).is_dir()
        calls.append((kwargs, directory))

    monkeypatch.setattr(cli.uvicorn, "run", run)
    monkeypatch.delenv(ENV, raising=False)
    result = runner.invoke(cli.cli, ["serve", "--workers", "2"], env=environment)
    assert result.exit_code == 0, result.output
    (call,) = calls
    return call


def test_serve_hands_uvicorn_the_json_logging_and_mutes_its_access_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kwargs, _ = serve(monkeypatch, {"LOG_LEVEL": "warning", "LOG_FORMAT": "console"})

    assert kwargs["log_config"] == logging_config("warning", "console")
    assert kwargs["log_level"] == "warning"
    assert kwargs["access_log"] is False
    assert kwargs["workers"] == 2


def test_serve_gives_its_workers_a_private_metrics_directory_and_removes_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _, directory = serve(monkeypatch, {})

    assert directory is not None
    assert Path(directory).parent == tmp_path
    assert not Path(directory).exists()
    assert ENV not in os.environ


def test_serve_uses_the_operators_metrics_directory_and_keeps_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chosen = tmp_path / "metrics" / "api"  # created when missing
    _, directory = serve(monkeypatch, {ENV: str(chosen)})

    assert directory == str(chosen)
    assert chosen.is_dir()


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != ENV}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_does_not_import_prometheus_client_before_it_sets_the_directory() -> None:
    """prometheus-client picks in-memory or multiprocess values when first imported."""
    result = run_python("import sys, app.cli; print('prometheus_client' in sys.modules)")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_directory_set_too_late_is_refused_loudly(tmp_path: Path) -> None:
    result = run_python(
        "import os, prometheus_client;"
        f"os.environ['{ENV}'] = {str(tmp_path)!r};"
        "from app.observability.metrics import Metrics; Metrics()"
    )

    assert result.returncode != 0
    assert f"{ENV} was set after prometheus_client was imported" in result.stderr
