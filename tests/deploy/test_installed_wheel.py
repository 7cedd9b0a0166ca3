"""The image's install, replayed outside Docker, then used as the container uses it.

The builder stage is emulated from the Dockerfile itself: the build context is this tree less
.dockerignore, the builder's COPY lines lay it out, and its RUN line (deploy/install.sh) builds
the wheel and installs it, from the lock files, into a new virtualenv. Then, from an empty
working directory and with the image's ENV and the compose api service's environment (its
secrets made by deploy/first-run.sh), the image's ENTRYPOINT runs the Dockerfile's CMD (unready
until migrated, so its HEALTHCHECK fails) and the compose `migrate` command, against a
throwaway database of the suite's kind (a temporary SQLite file, or a PostgreSQL database). What
differs from the container: the virtualenv's path, the interpreter (this machine's CPython
3.11, not the image's), the secrets' paths (not /run/secrets/), and the address served
(127.0.0.1 and a free port instead of 0.0.0.0:8000).
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from packaging.utils import canonicalize_name
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from app.cli import alembic_config
from app.core.db import create_db_engine
from app.core.orm import Base
from app.core.settings import Settings
from tests.deploy.conftest import FirstRun
from tests.deploy.files import (
    LOCKS,
    Stage,
    build_context,
    command_of,
    compose,
    dockerfile_stages,
    healthcheck,
    lock_pins,
    with_secrets,
)
from tests.support import TEST_DATABASE, free_port, throwaway_database

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CONTAINER_PORT = "8000"


@dataclass
class Image:
    venv: Path
    final: Stage
    environment: dict[str, str]  # the process environment the image's ENV gives

    def command(self, *arguments: str) -> list[str]:
        entrypoint = self.final.last("ENTRYPOINT").exec_form()
        return [str(self.venv / "bin" / entrypoint[0]), *entrypoint[1:], *arguments]


def _lay_out_builder(builder: Stage, context: Path, workdir: Path) -> None:
    """The builder's COPY instructions, with Docker's rules for files and directories."""
    for copy in builder.all("COPY"):
        *sources, destination = copy.arguments.split()
        for source in sources:
            origin = context / source
            if origin.is_dir():
                shutil.copytree(origin, workdir / destination, dirs_exist_ok=True)
            else:
                into_directory = destination.endswith("/") or len(sources) > 1
                target = (
                    workdir / destination / origin.name if into_directory else workdir / destination
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)


def _base_environment() -> dict[str, str]:
    """This process's environment without what would let the source tree leak in."""
    leaks = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    environment = {k: v for k, v in os.environ.items() if k not in leaks}
    venv_bin = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join(
        p for p in environment.get("PATH", "").split(os.pathsep) if p != venv_bin
    )
    return environment


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    stages = dockerfile_stages()
    builder, final = stages[0], stages[-1]
    root = tmp_path_factory.mktemp("image")
    context, workdir, venv = root / "context", root / "src", root / "venv"
    build_context(context)
    _lay_out_builder(builder, context, workdir)

    (run,) = builder.all("RUN")
    words = shlex.split(run.arguments)
    image_venv = words[-1]
    environment = _base_environment()
    base_python = getattr(sys, "_base_executable", sys.executable)
    result = subprocess.run(
        [*words[:-1], str(venv)],
        cwd=workdir,
        env={**environment, "PYTHON": base_python},
        capture_output=True,
        text=True,
        timeout=800,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # The runtime stage's ENV, with the virtualenv where this test put it.
    image_env = {
        key: value.replace(image_venv, str(venv)).replace("$PATH", environment["PATH"])
        for key, value in final.env().items()
    }
    return Image(venv, final, {**environment, **image_env})


@pytest.fixture
def empty_workdir(tmp_path: Path) -> Path:
    """Like the image's WORKDIR: no source tree, no .env, no alembic.ini."""
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    return workdir


@pytest.fixture
def container_env(image: Image, tmp_path: Path, deployment: FirstRun) -> Iterator[dict[str, str]]:
    """The image's environment plus the compose api service's, with the secret files
    deploy/first-run.sh made, on a throwaway database (its URL instead of the compose one)."""
    api = with_secrets(compose()["services"]["api"], deployment.root)
    with throwaway_database(TEST_DATABASE, tmp_path) as url:
        environment = {**image.environment, **api, "DATABASE_URL": url}
        if make_url(url).get_backend_name() == "sqlite" or make_url(url).password:
            del environment["DATABASE_PASSWORD_FILE"]  # no password to add to that URL
        yield environment


def test_the_package_comes_from_the_wheel_with_its_migrations(
    image: Image, empty_workdir: Path
) -> None:
    probe = "import app, app.cli; print(app.__file__); print(app.cli.migrations_root())"
    result = subprocess.run(
        [str(image.venv / "bin" / "python"), "-c", probe],
        cwd=empty_workdir,
        env=image.environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    package_file, migrations = (Path(line) for line in result.stdout.splitlines())
    site_packages = next((image.venv / "lib").glob("python3*/site-packages"))
    assert package_file == site_packages / "app" / "__init__.py"  # not the source tree
    assert migrations == site_packages / "app" / "_migrations"
    assert (migrations / "alembic" / "env.py").is_file()
    assert list((migrations / "alembic" / "versions").glob("*.py"))


def test_the_image_gets_exactly_the_locked_versions(image: Image, empty_workdir: Path) -> None:
    listed = subprocess.run(
        [str(image.venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        cwd=empty_workdir,
        env=image.environment,
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {
        canonicalize_name(package["name"]): package["version"]
        for package in json.loads(listed.stdout)
    }
    locked = {
        pin.name: pin.version for pin in lock_pins(LOCKS / "runtime.txt") if pin.applies_here()
    }
    # What a new virtualenv of Python 3.11 brings (pip, setuptools), and the project's wheel.
    assert set(installed) - set(locked) == {"pip", "setuptools", "entropy-budget"}
    assert {name: installed[name] for name in locked} == locked


def test_migrate_then_serve_as_the_container_does(
    image: Image,
    empty_workdir: Path,
    container_env: dict[str, str],
    tmp_path: Path,
    deployment: FirstRun,
) -> None:
    """Unready (so unhealthy, and nginx would not start) until `migrate` has run; then the
    write key of the first run writes, and nothing without a key does."""
    services = compose()["services"]

    # The image's default command, on a free loopback port, before the schema exists.
    port = str(free_port())
    command = image.final.last("CMD").exec_form()
    assert command == command_of(services["api"])  # compose runs the image's own command
    command = [{"0.0.0.0": "127.0.0.1", CONTAINER_PORT: port}.get(word, word) for word in command]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            image.command(*command),
            cwd=empty_workdir,
            env=container_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    healthcheck = _healthcheck(image, port)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(f"{base_url}/healthz", server, log_path)
        # The image's HEALTHCHECK command, run as Docker would (exit 0 = healthy): not yet.
        unready = subprocess.run(
            healthcheck, cwd=empty_workdir, env=container_env, capture_output=True, check=False
        )
        assert unready.returncode != 0
        assert httpx.get(f"{base_url}/readyz", timeout=10).status_code == 503

        # `docker compose up` runs the migrate service (here while the api waits).
        migrate = subprocess.run(
            image.command(*command_of(services["migrate"])),
            cwd=empty_workdir,
            env=container_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        _assert_schema_at_head(container_env["DATABASE_URL"])

        healthy = subprocess.run(
            healthcheck, cwd=empty_workdir, env=container_env, capture_output=True, check=False
        )
        assert healthy.returncode == 0, healthy.stderr

        body = {"job_hash": "installed-wheel", "current_entropy": 0.2}
        anonymous = httpx.post(f"{base_url}/v1/budget/adjustments", json=body, timeout=10)
        assert anonymous.status_code == 401
        created = httpx.post(
            f"{base_url}/v1/budget/adjustments",
            json=body,
            headers={"Authorization": f"Bearer {deployment.write_key()}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        metrics = httpx.get(f"{base_url}/metrics", timeout=10)
        assert "entropy_budget_budget_adjustments_total" in metrics.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    # WEB_CONCURRENCY (the image's ENV) made it several worker processes.
    assert "Started parent process" in log_path.read_text()

    unhealthy = subprocess.run(
        healthcheck, cwd=empty_workdir, env=container_env, capture_output=True, check=False
    )
    assert unhealthy.returncode != 0


def _assert_schema_at_head(url: str) -> None:
    engine = create_db_engine(Settings(database_url=url), pooled=False)
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    finally:
        engine.dispose()
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


def _healthcheck(image: Image, port: str) -> list[str]:
    _flags, check = healthcheck(image.final)
    # `python` is found on the image's PATH, i.e. in the virtualenv.
    assert check[0] == "python"
    arguments = [word.replace(f":{CONTAINER_PORT}/", f":{port}/") for word in check[1:]]
    return [str(image.venv / "bin" / "python"), *arguments]


def _wait_for_health(url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"serve did not become healthy:\n{log_path.read_text()}")
