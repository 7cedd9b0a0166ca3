"""Helpers of the CLI tests: run the real command app, and seed data through the API."""

from collections.abc import Callable, Sequence
from typing import Any

import httpx
from click.testing import Result
from typer.testing import CliRunner

from app.cli import cli

Invoke = Callable[..., Result]


def invoke_cli(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """The real command app, without the caller's ENTROPY_BUDGET_* or COLUMNS settings."""
    clean: dict[str, str | None] = {
        "ENTROPY_BUDGET_URL": None,
        "ENTROPY_BUDGET_API_KEY": None,
        "COLUMNS": None,
    }
    return CliRunner().invoke(cli, list(args), env=clean | (env or {}))


def ok(result: Result) -> Result:
    """The result, after checking the command succeeded (with its output when it did not)."""
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def created(response: httpx.Response) -> Any:
    assert response.status_code == 201, response.text
    return response.json()


def adjust(api: httpx.Client, job_hash: str, entropies: Sequence[float]) -> list[Any]:
    """One budget adjustment per entropy reading, in order."""
    return [
        created(
            api.post(
                "/v1/budget/adjustments",
                json={"job_hash": job_hash, "current_entropy": entropy},
            )
        )
        for entropy in entropies
    ]


def set_budget(api: httpx.Client, job_hash: str, value: float) -> Any:
    return created(
        api.post(
            "/v1/budget",
            json={"job_hash": job_hash, "budget_value": value, "adjustment_type": "manual"},
        )
    )


def create_pattern(api: httpx.Client, pattern_id: str, status: str = "pending") -> Any:
    return created(
        api.post(
            "/v1/patterns",
            json={
                "id": pattern_id,
                "pattern_type": "strategy",
                "pattern_name": f"name of {pattern_id}",
                "quarantine_status": status,
            },
        )
    )


def apply_pattern(api: httpx.Client, pattern_id: str, times: int, job_hash: str) -> None:
    for index in range(times):
        created(
            api.post(
                f"/v1/patterns/{pattern_id}/applications",
                json={
                    "execution_id": f"{job_hash}-{pattern_id}-{index}",
                    "job_hash": job_hash,
                    "pattern_led_to_success": index % 2 == 0,
                },
            )
        )


def table_field(table: str, name: str) -> str:
    """The value cell of a (field, value) record table."""
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 2 and cells[0] == name:
            return cells[1]
    raise AssertionError(f"no field {name!r} in:\n{table}")
