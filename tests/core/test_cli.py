"""`entropy-budget`: where `migrate` finds its migrations, and how `serve` reads its workers."""

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app import cli
from app.core import migrations
from tests.support import PROJECT_ROOT

runner = CliRunner()


def _migrations(root: Path) -> Path:
    (root / "alembic").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\n")
    (root / "alembic" / "env.py").write_text("")
    return root


def test_a_checkout_uses_its_own_migrations() -> None:
    # Editable installs and checkouts have no app/_migrations: the source tree is used.
    assert not (PROJECT_ROOT / "app" / "_migrations").exists()
    assert cli.migrations_root() == PROJECT_ROOT
    assert cli.alembic_config().get_main_option("script_location") == str(PROJECT_ROOT / "alembic")


def test_the_packaged_migrations_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged, source = _migrations(tmp_path / "packaged"), _migrations(tmp_path / "source")
    monkeypatch.setattr(migrations, "MIGRATION_ROOTS", (packaged, source))
    assert cli.migrations_root() == packaged
    assert cli.alembic_config().config_file_name == str(packaged / "alembic.ini")


def test_missing_migrations_say_where_they_were_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrations, "MIGRATION_ROOTS", (tmp_path / "a", tmp_path / "b"))
    with pytest.raises(RuntimeError, match=r"migrations are missing .*/a, .*/b"):
        cli.migrations_root()


@pytest.mark.parametrize(
    ("arguments", "environment", "workers"),
    [
        ([], {}, 1),
        ([], {"WEB_CONCURRENCY": "3"}, 3),
        (["--workers", "2"], {"WEB_CONCURRENCY": "3"}, 2),  # the command line wins
    ],
)
def test_serve_workers_come_from_web_concurrency(
    monkeypatch: pytest.MonkeyPatch, arguments: list[str], environment: dict[str, str], workers: int
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    result = runner.invoke(cli.cli, ["serve", *arguments], env=environment)
    assert result.exit_code == 0, result.output
    assert calls[0]["workers"] == workers
