"""Where the Alembic migrations are, and the revision they lead to.

`entropy-budget migrate` upgrades with them and `GET /readyz` compares the database's
`alembic_version` with their head, so both find them the same way.
"""

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from app.core.settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent.parent
MIGRATION_ROOTS = (PACKAGE_DIR / "_migrations", PACKAGE_DIR.parent)
"""Where `alembic.ini` and `alembic/` live, in order: inside the installed package (the wheel
ships them as `app/_migrations/`, see pyproject.toml), then the source tree (a checkout or an
editable install)."""


def migrations_root() -> Path:
    for root in MIGRATION_ROOTS:
        if (root / "alembic.ini").is_file() and (root / "alembic" / "env.py").is_file():
            return root
    looked_in = ", ".join(str(root) for root in MIGRATION_ROOTS)
    raise RuntimeError(f"the Alembic migrations are missing (looked in {looked_in})")


def alembic_config(settings: Settings | None = None) -> Config:
    """The project's Alembic configuration, pointed at the settings' database."""
    root = migrations_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "alembic"))
    config.attributes["settings"] = settings or Settings()
    return config


def head_revisions(settings: Settings | None = None) -> frozenset[str]:
    """The head revision(s) of the migration scripts: what `migrate` upgrades to."""
    return frozenset(ScriptDirectory.from_config(alembic_config(settings)).get_heads())
