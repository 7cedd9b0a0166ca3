"""What every client command shares: the connection options, error handling, and output.

Exit codes: 0 success; 1 the server refused the request (its problem's title and detail on
stderr, and the field errors of a 422); 2 the server could not be reached, or the command line
itself is invalid (click's usage errors use 2 as well); 3 a local file could not be written
(`--output` in a missing directory, not writable, a directory, or an existing file without
`--force`).
"""

import functools
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TextIO, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from app.client import (
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_URL,
    ApiError,
    EntropyBudgetClient,
    ServerUnreachableError,
    UnexpectedResponseError,
    iter_pages,
)
from app.core.db import Database, create_db_engine
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.core.settings import Settings

EXIT_API_ERROR = 1
EXIT_UNREACHABLE = 2
EXIT_LOCAL_FILE = 3
EXIT_INVALID_SETTINGS = 2
EXIT_DATABASE = 2

KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
P = ParamSpec("P")
R = TypeVar("R")
ItemT = TypeVar("ItemT", bound=BaseModel)


@dataclass(frozen=True)
class Connection:
    """The global `--url`, `--api-key` and `--timeout` options."""

    url: str = DEFAULT_URL
    api_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS


def settings_or_exit() -> Settings:
    """This machine's settings (`serve`, `migrate`, `keys`); invalid ones are a message naming
    the variable (never its value) and exit 2, not a traceback."""
    try:
        return Settings()
    except ValidationError as error:
        typer.echo(f"Error: invalid settings:\n{error}", err=True)
        raise typer.Exit(EXIT_INVALID_SETTINGS) from None


@contextmanager
def local_database(settings: Settings, action: str) -> Iterator[Database]:
    """The database of this machine's settings, for commands that act on it, not over HTTP; one
    it cannot reach or that is not migrated is a message ("cannot <action>") and exit 2."""
    database = Database(create_db_engine(settings, pooled=False))
    try:
        yield database
    except (DBAPIError, PoolTimeoutError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        typer.echo(
            f"Error: cannot {action} ({reason}); is the database reachable and migrated "
            "(`entropy-budget migrate`)?",
            err=True,
        )
        raise typer.Exit(EXIT_DATABASE) from None
    finally:
        database.dispose()


@contextmanager
def local_session(action: str) -> Iterator[Session]:
    """One write transaction on the database of this machine's settings, committed when the
    block completes (`keys`, `diversity`)."""
    with (
        local_database(settings_or_exit(), action) as database,
        database.session(write=True) as session,
    ):
        yield session
        session.commit()


def open_client(ctx: typer.Context) -> EntropyBudgetClient:
    connection = ctx.find_object(Connection) or Connection()
    return EntropyBudgetClient(
        connection.url, api_key=connection.api_key, timeout=connection.timeout
    )


class LocalFileError(Exception):
    """A file of this machine could not be written; the message names it and says why."""


def handles_api_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the client's typed errors, and local file errors, into one clear message on stderr
    and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LocalFileError as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(EXIT_LOCAL_FILE) from None
        except ServerUnreachableError as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(EXIT_UNREACHABLE) from None
        except ApiError as error:
            typer.echo(f"Error: {error}", err=True)
            for field_error in error.errors:
                typer.echo(f"  {field_error.location}: {field_error.msg}", err=True)
            raise typer.Exit(EXIT_API_ERROR) from None
        except UnexpectedResponseError as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(EXIT_API_ERROR) from None
        except ValidationError as error:
            # A request body built from the command line broke the service's own rules:
            # nothing was sent.
            typer.echo("Error: invalid input, nothing was sent", err=True)
            for item in error.errors():
                location = ".".join(str(part) for part in item["loc"])
                typer.echo(f"  {location}: {item['msg']}", err=True)
            raise typer.Exit(EXIT_UNREACHABLE) from None

    return wrapper


# -- options shared by several commands --------------------------------------------------------

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON answer instead of a table.")
]
JobOption = Annotated[str, typer.Option("--job", "-j", help="The job_hash; empty means every job.")]
LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit", "-n", min=1, help=f"How many records in total (default {DEFAULT_LIMIT})."
    ),
]
AllOption = Annotated[bool, typer.Option("--all", help="Every record, page after page.")]
PageSizeOption = Annotated[
    int,
    typer.Option(min=1, max=MAX_LIMIT, help="Records per request while paging."),
]
CursorOption = Annotated[
    str | None, typer.Option(help="Continue from the `next_cursor` of an earlier export.")
]
TIME_FORMATS = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d"]
SinceOption = Annotated[
    datetime | None,
    typer.Option(
        formats=TIME_FORMATS,
        help="Records at or after this time (RFC 3339; a plain date means UTC midnight).",
    ),
]
UntilOption = Annotated[
    datetime | None,
    typer.Option(
        formats=TIME_FORMATS,
        help="Records before this time (RFC 3339; a plain date means UTC midnight).",
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the records to this file as NDJSON (one JSON object a line) while paging; "
        "the file appears once the export is complete. An existing file needs --force.",
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Overwrite the --output file if it exists.")
]
ProgressOption = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress bar on stderr (default: on when writing --output).",
    ),
]
DEFAULT_PAGE_SIZE = 500


# -- output ------------------------------------------------------------------------------------


PIPE_WIDTH = 160
"""Line width when stdout is not a terminal and COLUMNS is unset: wide, so tables keep every
column on one line in files and pipes."""


def stdout() -> Console:
    # Created per call: under test runners sys.stdout is swapped while a command runs.
    console = Console(highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(highlight=False, width=PIPE_WIDTH)
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def dump(model: BaseModel) -> Any:
    """The JSON value of a response model, exactly as the API serialises it."""
    return model.model_dump(mode="json")


def fmt(value: object) -> str:
    """One table cell: numbers compact, times RFC 3339 to the second in UTC, null as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, ".6g")
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list | tuple):
        return ", ".join(fmt(item) for item in value) or "-"
    return str(value)


def show_record(
    title: str, model: BaseModel, *, as_json: bool, fields: Sequence[str] | None = None
) -> None:
    """One answer of the API on stdout: its JSON with --json, else a (field, value) table."""
    if as_json:
        print_json(dump(model))
        return
    stdout().print(record_table(title, model, fields=fields))


def record_table(title: str, model: BaseModel, *, fields: Sequence[str] | None = None) -> Table:
    """One record as a two-column (field, value) table."""
    table = Table(title=Text(title), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name in fields or list(type(model).model_fields):
        table.add_row(name, Text(fmt(getattr(model, name))))
    return table


WRAPPING_ATTRIBUTES = frozenset(
    {
        "adjustment_reason",
        "quarantine_reason",
        "message",
        "actions_taken",
        "patterns_revisited",
        "pattern_name",
    }
)


def records(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"


def rows_table(
    title: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[BaseModel],
) -> Table:
    """Records as rows; `columns` are (header, attribute) pairs. Times, numbers and ids stay on
    one line; free text (reasons, messages, lists) wraps first when the terminal is narrow."""
    table = Table(title=Text(title), title_justify="left")
    for header, attribute in columns:
        if attribute in WRAPPING_ATTRIBUTES:
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*(Text(fmt(getattr(row, attribute))) for _header, attribute in columns))
    return table


# -- history exports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Paging:
    """How much of a history a command wants, over which time window, and where it goes."""

    limit: int | None
    everything: bool
    cursor: str | None
    page_size: int
    output: Path | None
    force: bool
    progress: bool | None
    as_json: bool
    since: datetime | None = None
    until: datetime | None = None

    @property
    def wanted(self) -> int | None:
        if self.everything:
            return None
        return self.limit if self.limit is not None else DEFAULT_LIMIT

    @property
    def show_progress(self) -> bool:
        return self.progress if self.progress is not None else self.output is not None

    @property
    def window(self) -> dict[str, datetime]:
        """`since`/`until` as the API takes them: UTC when given without an offset (the API
        refuses naive times)."""
        bounds = {"since": self.since, "until": self.until}
        return {
            name: bound if bound.tzinfo is not None else bound.replace(tzinfo=UTC)
            for name, bound in bounds.items()
            if bound is not None
        }


_PAGING_OPTIONS: tuple[tuple[str, Any, object], ...] = (
    ("limit", LimitOption, None),
    ("everything", AllOption, False),
    ("since", SinceOption, None),
    ("until", UntilOption, None),
    ("cursor", CursorOption, None),
    ("page_size", PageSizeOption, DEFAULT_PAGE_SIZE),
    ("output", OutputOption, None),
    ("force", ForceOption, False),
    ("progress", ProgressOption, None),
    ("as_json", JsonOption, False),
)
"""The options of every command that pages through a list, in the order `--help` shows them."""


def paged_command(
    app: typer.Typer, name: str, *, windowed: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a command that pages through a list: its keyword-only `paging` parameter becomes
    the paging options (`--since`/`--until` too when `windowed`), handed to it as one `Paging`.
    API and local file errors are handled as in every command (`handles_api_errors`)."""
    options = [
        (option, annotation, default)
        for option, annotation, default in _PAGING_OPTIONS
        if windowed or option not in {"since", "until"}
    ]

    def register(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def run(**values: Any) -> None:
            paging = Paging(**{option: values.pop(option) for option, _, _ in options})
            if paging.everything and paging.limit is not None:
                raise typer.BadParameter(
                    "use either --limit or --all, not both", param_hint="--limit"
                )
            command(**values, paging=paging)

        parameters: list[inspect.Parameter] = []
        for parameter in inspect.signature(command).parameters.values():
            if parameter.name == "paging":
                parameters += [
                    inspect.Parameter(option, KEYWORD_ONLY, annotation=annotation, default=default)
                    for option, annotation, default in options
                ]
            else:
                parameters.append(parameter.replace(kind=KEYWORD_ONLY))
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        app.command(name)(handles_api_errors(run))
        return command

    return register


def export_history(
    title: str,
    fetch: Callable[..., Page[ItemT]],
    paging: Paging,
    columns: Sequence[tuple[str, str]],
    *,
    expected_total: Callable[[], int | None] | None = None,
) -> None:
    """Page through a history: NDJSON to --output, JSON or a table to stdout. `fetch` takes
    `limit`, `cursor` and the window's `since`/`until`; `expected_total` counts the records
    when there is no window, for the progress bar of `--all`.

    --json prints `{"items": [...], "next_cursor": ...}`: the API's page when one request was
    enough, and for longer exports every item fetched with the cursor after the last of them.
    """
    items: list[ItemT] = []
    next_cursor: str | None = None
    total = paging.wanted
    if total is None and paging.show_progress and expected_total and not paging.window:
        total = expected_total()
    # Opened before the first request: a bad path fails at once, and nothing is fetched.
    output = (
        output_file(paging.output, force=paging.force)
        if paging.output is not None
        else nullcontext()
    )
    with output as sink, _progress_bar(disable=not paging.show_progress) as progress:
        task = progress.add_task(title, total=total)
        written = 0
        for page in iter_pages(
            lambda size, after: fetch(limit=size, cursor=after, **paging.window),
            wanted=paging.wanted,
            page_size=paging.page_size,
            cursor=paging.cursor,
        ):
            next_cursor = page.next_cursor
            if sink is not None:
                for item in page.items:
                    sink.write(item.model_dump_json() + "\n")
                sink.flush()
            else:
                items.extend(page.items)
            written += len(page.items)
            progress.update(task, completed=written)
        progress.update(task, total=written, completed=written)

    if paging.output is not None:
        more = f"; continue with --cursor {next_cursor}" if next_cursor else ""
        stderr().print(
            f"Wrote {records(written)} to {paging.output}{more}", soft_wrap=True, markup=False
        )
        return
    if paging.as_json:
        print_json({"items": [dump(item) for item in items], "next_cursor": next_cursor})
        return
    console = stdout()
    console.print(rows_table(f"{title} ({records(len(items))})", columns, items))
    if next_cursor:
        console.print(
            "More records: --all for every one, --limit N for more, "
            f"or --cursor {next_cursor} to continue.",
            soft_wrap=True,
            markup=False,
        )


def _progress_bar(*, disable: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr(),
        disable=disable,
    )


# -- output files ------------------------------------------------------------------------------


@contextmanager
def output_file(path: Path, *, force: bool) -> Iterator[TextIO]:
    """A text file written in full or not at all: lines go to a hidden temporary file beside
    `path`, which becomes `path` only when the block completes. A failed export leaves no
    partial file and an existing one untouched; without `force` an existing file is never
    replaced. Errors are LocalFileError (a bad path: before the block runs). Hand-written over
    tempfile and os.replace/os.link: the atomic-write packages are archived or unmaintained."""
    try:
        if path.is_dir():
            raise LocalFileError(f"cannot write {path}: it is a directory")
        if path.exists() and not force:
            raise LocalFileError(f"{path} already exists; pass --force to overwrite it")
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".partial"
        )
    except FileNotFoundError:
        raise LocalFileError(
            f"cannot write {path}: the directory {path.parent} does not exist"
        ) from None
    except OSError as error:
        raise LocalFileError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        os.fchmod(descriptor, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
        with os.fdopen(descriptor, "w", encoding="utf-8") as sink:
            yield sink
        _move_into_place(Path(temporary), path, force=force)
    except OSError as error:  # writing, in the block too (a full disk, a lost mount)
        raise LocalFileError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)


def _move_into_place(temporary: Path, path: Path, *, force: bool) -> None:
    if not force:
        try:
            os.link(temporary, path)  # atomic, and fails if the file appeared meanwhile
            return
        except FileExistsError:
            raise LocalFileError(f"{path} already exists; pass --force to overwrite it") from None
        except OSError:
            if path.exists():  # a file system without hard links: check, then rename
                raise LocalFileError(
                    f"{path} already exists; pass --force to overwrite it"
                ) from None
    temporary.replace(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
