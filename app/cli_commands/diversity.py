"""`entropy-budget diversity fill|drop`: the registered half-lives of diversity scopes.

Like `keys`, these act on the database of this machine's settings (`DATABASE_URL`), not over
HTTP; running servers see the change at once (every writer keeps every registered half-life).

Exit codes: 0 done; 1 refused (dropping a half-life that is not registered); 2 the database
could not be reached or is not migrated.
"""

from typing import Annotated

import typer

from app.cli_commands.common import local_session, settings_or_exit
from app.core.clock import utc_now
from app.core.settings import MAX_HALF_LIFE_SECONDS
from app.diversity import service

EXIT_REFUSED = 1

app = typer.Typer(
    help="Half-lives of diversity scopes (on this machine's DATABASE_URL): fill, drop."
)


HalfLives = Annotated[
    list[int] | None,
    typer.Argument(
        min=1,
        max=MAX_HALF_LIFE_SECONDS,
        help="Half-lives in seconds; none: those of DIVERSITY_HALF_LIVES.",
        show_default=False,
    ),
]


@app.command()
def fill(half_lives: HalfLives = None) -> None:
    """Register half-lives and fill their weights from the stored applications (holding the
    applications' write lock); those already registered are kept as they are."""
    wanted = half_lives or list(settings_or_exit().diversity_half_life_seconds)
    with local_session("use the diversity tables") as session:
        reports = service.register_and_fill(session, wanted, utc_now())
        registered = service.registered(session)
    for report in reports:
        typer.echo(
            f"registered {report.half_life_seconds} s: {report.rows} weights from "
            f"{report.applications} applications in {report.duration_ms} ms"
        )
    typer.echo(f"registered half-lives: {', '.join(map(str, registered)) or 'none'}")


@app.command()
def drop(
    half_life: Annotated[int, typer.Argument(help="The half-life to unregister, in seconds.")],
) -> None:
    """Unregister a half-life and delete its weights; job policies that name it measure
    all-time from now on."""
    with local_session("use the diversity tables") as session:
        was_registered, policies = service.drop(session, half_life)
        if not was_registered:  # raised in the block: the session is rolled back, not committed
            typer.echo(f"Error: half-life {half_life} s is not registered", err=True)
            raise typer.Exit(EXIT_REFUSED)
    typer.echo(f"dropped {half_life} s; {policies} job policies now measure all-time")
