"""The README and docs/ stand alone: every link resolves inside the repository (to a file that
exists, and to a heading that exists when it names one), and nothing points outside it; every
code block says its language, so that no shell example escapes the example runner."""

import itertools
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests.support import PROJECT_ROOT

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
OUTSIDE_MENTIONS = re.compile(r"\.\./shared|\bshared/(?:DESIGN|seed)|\bDESIGN\.md\b|/work/")
"""Text that names a file outside the repository (the specification it was built from)."""
EXTERNAL = re.compile(r"^(?:https?|mailto):")


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces
    as hyphens, and -1, -2... on repeats."""
    anchors: set[str] = set()
    tokens = MarkdownIt().parse(path.read_text())
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "heading_open":
            continue
        text = "".join(child.content for child in inline.children or [])
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        candidate, repeat = slug, 0
        while candidate in anchors:
            repeat += 1
            candidate = f"{slug}-{repeat}"
        anchors.add(candidate)
    return anchors


def link_targets(path: Path) -> list[str]:
    """Every link and image target of a document, as markdown-it reads them."""
    targets: list[str] = []
    for token in MarkdownIt().parse(path.read_text()):
        for child in token.children or []:
            target = child.attrGet("href") or child.attrGet("src")
            if isinstance(target, str):
                targets.append(target)
    return targets


def broken_links(path: Path, root: Path = PROJECT_ROOT) -> list[str]:
    problems: list[str] = []
    for target in link_targets(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.is_relative_to(root):
            problems.append(f"{target}: outside the repository")
        elif not linked.exists():
            problems.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked):
            problems.append(f"{target}: no heading #{anchor} in {linked.name}")
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_link_resolves_inside_the_repository(document: Path) -> None:
    assert broken_links(document) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_nothing_names_a_file_outside_the_repository(document: Path) -> None:
    mentions = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(document.read_text().splitlines(), start=1)
        if OUTSIDE_MENTIONS.search(line)
    ]
    assert mentions == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """A document with each kind of fault fails each check."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text("# The HTTP API\n\n## Pages\n")
    sample = tmp_path / "docs" / "sample.md"
    sample.write_text(
        "# Title\n\n[up](../../elsewhere.md) [gone](missing.md) [anchor](api.md#no-such-heading)"
        " [fine](api.md#pages) [here](#title) [web](https://example.org/x)\n\n"
        "See ../shared/DESIGN.md.\n"
    )

    assert broken_links(sample, root=tmp_path) == [
        "../../elsewhere.md: outside the repository",
        "missing.md: no such file",
        "api.md#no-such-heading: no heading #no-such-heading in api.md",
    ]
    assert OUTSIDE_MENTIONS.search(sample.read_text())


SHELL_LANGUAGES = {"console", "sh", "bash", "shell"}
OTHER_LANGUAGES = {
    "text",
    "json",
    "yaml",
    "http",
    "python",
    "typescript",
    "toml",
    "ini",
    "nginx",
} | {"sql"}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_code_block_says_what_it_is(document: Path) -> None:
    """A shell example is one of the languages the example runner runs (tests/docs/examples.py):
    an unlabelled or oddly labelled block of commands would never be run."""
    known = SHELL_LANGUAGES | OTHER_LANGUAGES
    unknown = [
        f"line {token.map[0] + 1 if token.map else '?'}: {token.info or '(none)'}"
        for token in MarkdownIt().parse(document.read_text())
        if token.type == "fence" and (token.info.split() or ["(none)"])[0] not in known
    ]
    assert unknown == []
