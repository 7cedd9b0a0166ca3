"""`entropy-budget serve`: the logging uvicorn gets, and the metrics directory its workers share."""

import json
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from app import cli
from app.observability.logs import logging_config
from tests.support import CONSOLE_SCRIPT, PROJECT_ROOT, free_port, uvicorn_server

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
    # uvicorn's 5 s killed workers still importing the app on a loaded machine.
    assert kwargs["timeout_worker_healthcheck"] >= 30


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


def banner_of(log: str) -> dict[str, Any]:
    """The first log line of `serve`: where to find the API, its docs and the dashboard."""
    first = json.loads(log.splitlines()[0])
    assert first["event"] == "entropy-budget serving", first
    return first


def test_the_first_line_says_where_the_api_docs_and_dashboard_are(
    database_url: str, log_dir: Path
) -> None:
    with uvicorn_server(database_url, log_dir, via_cli=True) as server:
        banner = banner_of(server.log_path.read_text())
        assert banner["api"] == server.base_url
        assert httpx.get(f"{banner['api']}/healthz", timeout=10).status_code == 200
        for page in ("docs", "dashboard"):
            response = httpx.get(banner[page], timeout=10)
            assert response.status_code == 200, page
            assert response.headers["content-type"].startswith("text/html"), page


def test_at_a_terminal_serve_writes_coloured_lines_with_the_urls(database_url: str) -> None:
    """What a person running `make run` sees: console lines, the URLs on the first one."""
    port = free_port()
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "NO_COLOR"},
            "DATABASE_URL": database_url,
        },
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    output = ""
    try:
        deadline = time.monotonic() + 60
        while "Application startup complete" not in output:
            assert time.monotonic() < deadline, output
            assert process.poll() is None, output
            ready, _, _ = select.select([primary], [], [], 1)
            if ready:
                output += os.read(primary, 65536).decode(errors="replace")
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.close(primary)

    assert re.search(r"\x1b\[[0-9;]*m", output), output
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    first = plain.splitlines()[0]
    assert "entropy-budget serving" in first
    for url in ("", "/docs", "/dashboard"):
        assert f"=http://127.0.0.1:{port}{url}" in first, first
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
