"""docs/configuration.md lists every setting of the service, each with the default it has."""

from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from app.core.settings import Settings
from tests.support import PROJECT_ROOT

GUIDE = PROJECT_ROOT / "docs" / "configuration.md"
NO_VALUE = {"unset", "empty"}


def documented_rows(path: Path) -> dict[str, str]:
    """Each table row naming one variable (`NAME`) in its first cell: the text of its second."""
    rows: dict[str, str] = {}
    cells: list[str] = []
    for token in MarkdownIt().enable("table").parse(path.read_text()):
        if token.type == "tr_open":
            cells = []
        elif token.type == "inline" and token.level > 0:
            cells.append(token.content)
        elif token.type == "tr_close" and len(cells) >= 2:
            name = cells[0].strip()
            if name.startswith("`") and name.endswith("`") and name.count("`") == 2:
                rows[name.strip("`")] = cells[1].strip()
    return rows


def same_default(documented: str, default: Any) -> bool:
    text = documented.strip("`")
    if default is None or default == "":
        return text in NO_VALUE
    if isinstance(default, bool):
        return text == str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(text) == float(default)
        except ValueError:
            return False
    return text == str(default)


ROWS = documented_rows(GUIDE)
FIELDS = sorted(Settings.model_fields.items())


@pytest.mark.parametrize(("field", "info"), FIELDS, ids=[name for name, _ in FIELDS])
def test_every_setting_is_documented_with_its_default(field: str, info: Any) -> None:
    variable = field.upper()
    assert variable in ROWS, f"docs/configuration.md has no row for {variable}"
    assert same_default(ROWS[variable], info.default), (
        f"{variable}: documented default {ROWS[variable]!r}, the service's is {info.default!r}"
    )


def test_the_reader_finds_rows_and_tells_defaults_apart(tmp_path: Path) -> None:
    sample = tmp_path / "sample.md"
    sample.write_text(
        "| variable | default | meaning |\n|---|---|---|\n"
        "| `LOG_FORMAT` | `json` | x |\n| `A` / `B` | 5 / 5 | two in one row |\n"
    )
    assert documented_rows(sample) == {"LOG_FORMAT": "`json`"}
    assert same_default("`json`", "json")
    assert not same_default("`console`", "json")
    assert same_default("0.50", 0.5)
    assert not same_default("unset", 5)
    assert same_default("`false`", False)
    assert same_default("unset", None)
