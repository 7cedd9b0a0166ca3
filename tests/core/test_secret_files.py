"""Secrets from files: API_KEYS_FILE, DATABASE_URL_FILE, DATABASE_PASSWORD(_FILE).

Docker secrets are files (/run/secrets/<name>); like the official database images' *_FILE
variables, each names a file whose content is the setting. Errors name the variable and the
path, never the content.
"""

import hashlib
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from app import cli
from app.core import api_keys
from app.core.db import database_url
from app.core.settings import Settings
from tests.support import uvicorn_server

PASSWORD = "p@ss/word:with?odd#chars"
KEY = api_keys.generate_key()
OTHER_KEY = api_keys.generate_key()


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean slate: none of these settings inherited from the caller (nor from a .env)."""
    for name in ("API_KEYS", "DATABASE_URL", "DATABASE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    return monkeypatch


def secret(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def test_api_keys_file_one_entry_a_line(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = secret(tmp_path, "api_keys", f"write:{sha256(KEY)}\nread:{sha256(OTHER_KEY)}\n")
    environment.setenv("API_KEYS_FILE", str(path))

    keys = Settings().configured_keys

    assert [(key.scope, key.key_hash) for key in keys] == [
        ("write", sha256(KEY)),
        ("read", sha256(OTHER_KEY)),
    ]


def test_database_url_file(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"postgresql://entropy:{PASSWORD.replace('/', '%2F').replace('@', '%40')}@db:5432/eb"
    environment.setenv("DATABASE_URL_FILE", str(secret(tmp_path, "database_url", url + "\n")))

    assert Settings().database_url == url  # the final newline of the file is not part of it


@pytest.mark.parametrize("variant", ["file", "variable"])
def test_database_password_goes_into_a_url_without_one(
    environment: pytest.MonkeyPatch, tmp_path: Path, variant: str
) -> None:
    environment.setenv("DATABASE_URL", "postgresql://entropy@postgres:5432/entropy_budget")
    if variant == "file":
        environment.setenv("DATABASE_PASSWORD_FILE", str(secret(tmp_path, "pw", PASSWORD + "\n")))
    else:
        environment.setenv("DATABASE_PASSWORD", PASSWORD)

    url = database_url(Settings().database_url)

    assert url.password == PASSWORD  # escaped in the URL, intact for the driver
    assert (url.username, url.host, url.port, url.database) == (
        "entropy",
        "postgres",
        5432,
        "entropy_budget",
    )
    assert PASSWORD not in repr(Settings())  # shown nowhere in clear


@pytest.mark.parametrize("name", ["API_KEYS", "DATABASE_URL", "DATABASE_PASSWORD"])
def test_a_setting_given_twice_is_refused(
    environment: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    environment.setenv("DATABASE_URL", "postgresql://entropy@postgres/eb")
    environment.setenv(name, f"write:{sha256(KEY)}" if name == "API_KEYS" else "postgresql://x")
    environment.setenv(f"{name}_FILE", str(secret(tmp_path, "value", "the-secret-content")))

    with pytest.raises(ValidationError, match=f"{name} and {name}_FILE are both set") as caught:
        Settings()
    assert "the-secret-content" not in str(caught.value)


def test_an_unreadable_file_names_the_variable_and_the_path(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-secret"
    environment.setenv("API_KEYS_FILE", str(missing))

    with pytest.raises(ValidationError, match=f"API_KEYS_FILE: cannot read {missing}: No such"):
        Settings()


def test_a_malformed_keys_file_is_refused_without_echoing_it(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment.setenv("API_KEYS_FILE", str(secret(tmp_path, "api_keys", f"write:{KEY}\n")))

    with pytest.raises(ValidationError, match="API_KEYS entry 1") as caught:
        Settings()
    assert KEY not in str(caught.value)  # a plaintext key put there by mistake stays secret


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///./data/x.db", "DATABASE_URL is an SQLite file"),
        ("postgresql://entropy:other@postgres/eb", "DATABASE_URL carries a password"),
    ],
)
def test_a_password_needs_a_server_url_without_one(
    environment: pytest.MonkeyPatch, url: str, message: str
) -> None:
    environment.setenv("DATABASE_URL", url)
    environment.setenv("DATABASE_PASSWORD", PASSWORD)

    with pytest.raises(ValidationError, match=message) as caught:
        Settings()
    assert PASSWORD not in str(caught.value)
    assert "other" not in str(caught.value)


def test_the_cli_says_which_setting_is_wrong_in_one_message(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "postgres_password"
    environment.setenv("DATABASE_URL", "postgresql://entropy@postgres/eb")
    environment.setenv("DATABASE_PASSWORD_FILE", str(missing))

    for command in (["migrate"], ["serve"], ["keys", "list"]):
        result = CliRunner().invoke(cli.cli, command)

        assert result.exit_code == 2, (command, result.output)
        assert f"DATABASE_PASSWORD_FILE: cannot read {missing}" in result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.e2e
def test_a_server_takes_its_keys_from_the_file(
    database_url: str, log_dir: Path, tmp_path: Path
) -> None:
    path = secret(tmp_path, "api_keys", f"write:{sha256(KEY)}\n")
    body = {"job_hash": "secret-files", "current_entropy": 0.2}
    with (
        uvicorn_server(database_url, log_dir, extra_env={"API_KEYS_FILE": str(path)}) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as http,
    ):
        refused = http.post("/v1/budget/adjustments", json=body)
        accepted = http.post(
            "/v1/budget/adjustments", json=body, headers={"Authorization": f"Bearer {KEY}"}
        )

    assert refused.status_code == 401
    assert accepted.status_code == 201, accepted.text
