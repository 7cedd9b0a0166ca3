"""The shell examples of README.md and docs/*.md, run as a reader runs them.

Sybil finds the fenced blocks and runs them in document order; this module says what running one
means. Each document gets its own live server: a real `entropy-budget serve` process on a fresh
database of the suite's kind (SQLite, or PostgreSQL in the PostgreSQL run), started at the
document's first example and stopped after its last. Commands run with bash in a working
directory of the document's own, where `.venv` is the suite's virtualenv (so
`.venv/bin/entropy-budget` works as in a checkout). As far as the text is concerned the server
is at `localhost:8000` and a receiver the document starts listens on port 9000; the real,
free ports are swapped in and out.

Blocks:

- ```` ```console ````: `$ command` lines (continued over the next lines while bash says the
  command is unfinished: a trailing backslash, an open quote or loop), each followed by the
  output it must print (stdout and stderr, as a terminal shows them). Every command must exit 0:
  a document that shows a failure shows its status (`...; echo "exit $?"`). Outputs are compared
  modulo white space, ids, timestamps and the last digits of long decimals; `…` in an expected
  output stands for any text.
- ```` ```sh ````, ```` ```bash ````, ```` ```shell ````: a script run with `bash -e`; it must
  succeed, its output is not compared.
- ```` ```python file=NAME ```` (any language): the block is written to NAME in the working
  directory, for the commands that follow to use (a receiver, say).
- `<!-- example-server: NAME=value ... -->` before a document's first example: settings of the
  document's server (e.g. `WEBHOOKS_ALLOW_PRIVATE=true`).
- `<!-- skip: next "why" -->` before a block that must not run here (compose, `make test`...).
"""

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command as alembic_command
from sybil import Example, Region, Sybil
from sybil.parsers.markdown import SkipParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, RawFencedCodeBlockLexer

from app.core.migrations import alembic_config
from app.core.settings import Settings
from tests.support import (
    PROJECT_ROOT,
    TEST_DATABASE,
    free_port,
    throwaway_database,
    uvicorn_server,
)

COMMAND_TIMEOUT_SECONDS = 60
BLOCK_TIMEOUT_SECONDS = 600
"""A block of many CLI calls takes a while on a loaded machine (each call starts Python)."""
VENV = Path(sys.executable).parent.parent
SESSION = "example_session"


@dataclass
class ExampleSession:
    """One document's server, working directory and the processes its commands left running."""

    server_environment: dict[str, str] = field(default_factory=dict)
    stack: ExitStack = field(default_factory=ExitStack)
    workdir: Path | None = None
    base_url: str = ""
    database_url: str = ""
    process_groups: list[int] = field(default_factory=list)
    receiver_port: int = field(default_factory=free_port)

    def start(self) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="eb-docs-"))
        self.stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        (workdir / ".venv").symlink_to(VENV)
        self.workdir = workdir
        self.database_url = self.stack.enter_context(throwaway_database(TEST_DATABASE, workdir))
        alembic_command.upgrade(alembic_config(Settings(database_url=self.database_url)), "head")
        server = self.stack.enter_context(
            uvicorn_server(
                self.database_url, workdir, via_cli=True, extra_env=self.server_environment
            )
        )
        self.base_url = server.base_url
        self.stack.callback(self._stop_left_processes)

    @property
    def live_ports(self) -> dict[int, int]:
        """Documented port: the port this session really uses."""
        return {
            DOCUMENTED_SERVER_PORT: int(self.base_url.rsplit(":", 1)[1]),
            DOCUMENTED_RECEIVER_PORT: self.receiver_port,
        }

    def environment(self) -> dict[str, str]:
        """What a reader's shell has: the system's PATH (not the virtualenv's), and the
        server where the documents say it is."""
        venv_bin = str(VENV / "bin")
        path = os.pathsep.join(
            entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry != venv_bin
        )
        return {
            "PATH": path,
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "COLUMNS": "100",
            "DATABASE_URL": self.database_url,
            "ENTROPY_BUDGET_URL": self.base_url,
        }

    def run(self, script: str, *, check_errors: bool = False) -> tuple[int, str]:
        """Run `script` with bash in the working directory; its exit status and everything it
        printed. Processes it leaves in the background are stopped with the session."""
        assert self.workdir is not None
        script = swap_ports(script, self.live_ports)
        output_path = self.workdir / ".example-output"
        arguments = ["bash", "-e", "-c", script] if check_errors else ["bash", "-c", script]
        with output_path.open("wb") as output:
            process = subprocess.Popen(
                arguments,
                cwd=self.workdir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: background children are found later
            )
            self.process_groups.append(process.pid)
            try:
                status = process.wait(timeout=COMMAND_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                status = -1
            finally:  # also when the test itself times out: never leave the command running
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        printed = output_path.read_text(errors="replace")
        documented = {live: documented for documented, live in self.live_ports.items()}
        return status, swap_ports(printed, documented)

    def _stop_left_processes(self) -> None:
        for group in self.process_groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)

    def close(self) -> None:
        self.stack.close()


def session_of(example: Example) -> ExampleSession:
    session: ExampleSession = example.namespace.setdefault(SESSION, ExampleSession())
    if session.workdir is None:
        session.start()
    return session


def teardown(namespace: dict[str, Any]) -> None:
    session: ExampleSession | None = namespace.pop(SESSION, None)
    if session is not None:
        session.close()


# --- addresses, as documented and as they are -------------------------------------------------

DOCUMENTED_SERVER_PORT = 8000
DOCUMENTED_RECEIVER_PORT = 9000
"""A document's own receiver (a webhook's, say) listens on 9000 (`PORT=9000`, `127.0.0.1:9000`)."""


def port_pattern(port: int) -> re.Pattern[str]:
    return re.compile(rf"\b(localhost:|127\.0\.0\.1:|PORT=){port}\b")


def swap_ports(text: str, ports: dict[int, int]) -> str:
    for old, new in ports.items():
        text = port_pattern(old).sub(rf"\g<1>{new}", text)
    return text


# --- comparing outputs ------------------------------------------------------------------------

UUID = re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b")
SHORTENED_ID = re.compile(r"\b[0-9a-f]{4,}-?…")
"""An id cut short in the text (`deeeca34-…`): any id."""
TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
LONG_DECIMAL = re.compile(r"\b\d+\.\d{7,}\b")
RULES = re.compile(r"[─━═]+")
WILDCARD = "…"


def normalised(text: str) -> str:
    """The text with what legitimately varies between runs made equal: ids, timestamps, the
    float noise of sums and decays (rounded to 6 decimals), table widths and white space."""
    text = UUID.sub("<id>", text)
    text = SHORTENED_ID.sub("<id>", text)
    text = TIMESTAMP.sub("<time>", text)
    text = LONG_DECIMAL.sub(lambda match: f"{float(match.group()):.6f}".rstrip("0"), text)
    text = RULES.sub("─", text)
    return re.sub(r"\s+", "", text)


def output_matches(expected: str, actual: str) -> bool:
    pieces = [re.escape(piece) for piece in normalised(expected).split(WILDCARD)]
    return re.fullmatch(".*?".join(pieces), normalised(actual), flags=re.DOTALL) is not None


# --- console blocks ---------------------------------------------------------------------------


@dataclass
class Step:
    command: str
    expected: str
    line: int


def console_steps(source: str, first_line: int) -> list[Step]:
    """`$ command` lines (continued by a trailing backslash) and the output under each."""
    steps: list[Step] = []
    lines = source.splitlines()
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            raise ValueError(f"line {first_line + index}: expected a `$ ` command, got {line!r}")
        command_lines = [line[2:]]
        start = index
        while unfinished("\n".join(command_lines)) and index + 1 < len(lines):
            index += 1
            command_lines.append(lines[index])
        index += 1
        output_lines: list[str] = []
        while index < len(lines) and not lines[index].startswith("$ "):
            output_lines.append(lines[index])
            index += 1
        steps.append(Step("\n".join(command_lines), "\n".join(output_lines), first_line + start))
    return steps


def unfinished(command: str) -> bool:
    """A command goes on over the next line when bash says so: after a backslash, inside an
    open quote, a loop or a here-document."""
    if command.endswith("\\"):
        return True
    check = subprocess.run(
        ["bash", "-n", "-c", command], check=False, capture_output=True, text=True
    )
    return check.returncode != 0 and "unexpected e" in check.stderr.lower()


def evaluate_console(example: Example) -> str | None:
    session = session_of(example)
    for step in console_steps(str(example.parsed), example.line + 1):
        status, printed = session.run(step.command)
        failure = None
        if status != 0:
            failure = f"exited {status}"
        elif not output_matches(step.expected, printed):
            failure = "printed something else"
        if failure:
            return (
                f"line {step.line}: `{step.command}` {failure}\n"
                f"--- expected ---\n{step.expected}\n--- printed ---\n{printed}"
            )
    return None


def evaluate_script(example: Example) -> str | None:
    status, printed = session_of(example).run(str(example.parsed), check_errors=True)
    if status != 0:
        return f"the script exited {status}:\n{printed}"
    return None


def evaluate_file(example: Example) -> str | None:
    workdir = session_of(example).workdir
    assert workdir is not None
    (workdir / example.region.lexemes["file"]).write_text(str(example.parsed))
    return None


def evaluate_server_environment(example: Example) -> str | None:
    session: ExampleSession = example.namespace.setdefault(SESSION, ExampleSession())
    if session.workdir is not None:
        return "example-server must come before the document's first example"
    for assignment in shlex.split(str(example.parsed)):
        name, _, value = assignment.partition("=")
        session.server_environment[name] = value
    return None


class BlockParser:
    """Fenced blocks whose info string matches `info`, each evaluated by `evaluator`."""

    def __init__(self, info: str, evaluator: Any) -> None:
        self.lexer = RawFencedCodeBlockLexer(
            info_pattern=re.compile(info + r"[ \t]*$\n", re.MULTILINE),
            mapping={"source": "source", **{name: name for name in re.compile(info).groupindex}},
        )
        self.evaluator = evaluator

    def __call__(self, document: Any) -> Any:
        for region in self.lexer(document):
            region.parsed = region.lexemes["source"]
            region.evaluator = self.evaluator
            yield region


class ServerEnvironmentParser:
    def __init__(self) -> None:
        self.lexer = DirectiveInHTMLCommentLexer("example-server", arguments=r"[^\n]+?")

    def __call__(self, document: Any) -> Any:
        for lexed in self.lexer(document):
            yield Region(
                lexed.start,
                lexed.end,
                lexed.lexemes["arguments"],
                evaluate_server_environment,
            )


EXAMPLES = Sybil(
    parsers=[
        SkipParser(),
        ServerEnvironmentParser(),
        BlockParser(r"console", evaluate_console),
        BlockParser(r"(?:sh|bash|shell)", evaluate_script),
        BlockParser(r"\w+[ \t]+file=(?P<file>[\w.-]+)", evaluate_file),
    ],
    path=str(PROJECT_ROOT),
    patterns=["README.md", "docs/*.md"],
    teardown=teardown,
)


def is_documentation(path: Path) -> bool:
    """The README and every document of docs/: their examples run."""
    return path == PROJECT_ROOT / "README.md" or (
        path.parent == PROJECT_ROOT / "docs" and path.suffix == ".md"
    )
