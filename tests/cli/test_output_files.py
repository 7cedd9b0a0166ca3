"""`--output FILE`: local file errors are one line on stderr and exit 3, never a traceback;
an existing file is replaced only with `--force`, and only by a complete export."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli_commands.common import EXIT_LOCAL_FILE, EXIT_UNREACHABLE
from tests.cli.helpers import Invoke, create_pattern, invoke_cli, ok, set_budget
from tests.support import CONSOLE_SCRIPT, PROJECT_ROOT, Server, free_port

pytestmark = pytest.mark.e2e


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}"


def leftovers(directory: Path) -> list[str]:
    """Temporary files an export may have left behind."""
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".partial"))


def assert_one_error_line(stderr: str, expected: str) -> None:
    assert stderr.splitlines() == [f"Error: {expected}"]
    assert "Traceback" not in stderr


def test_a_missing_directory_is_one_line_and_exit_3_before_any_request(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "history.ndjson"

    # The server is unreachable: had the CLI sent a request, it would exit 2.
    result = invoke_cli("--url", unreachable(), "budget", "history", "--output", str(target))

    assert result.exit_code == EXIT_LOCAL_FILE == 3
    assert result.stdout == ""
    assert_one_error_line(
        result.stderr, f"cannot write {target}: the directory {target.parent} does not exist"
    )
    assert not (tmp_path / "no").exists()


def test_an_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    target = tmp_path / "history.ndjson"
    target.write_text("precious\n")

    result = invoke_cli("--url", unreachable(), "entropy", "history", "-o", str(target))

    assert result.exit_code == EXIT_LOCAL_FILE
    assert_one_error_line(result.stderr, f"{target} already exists; pass --force to overwrite it")
    assert target.read_text() == "precious\n"
    assert leftovers(tmp_path) == []


def test_a_directory_is_refused(tmp_path: Path) -> None:
    for extra in ([], ["--force"]):
        result = invoke_cli(
            "--url", unreachable(), "patterns", "list", "--output", str(tmp_path), *extra
        )

        assert result.exit_code == EXIT_LOCAL_FILE
        assert_one_error_line(result.stderr, f"cannot write {tmp_path}: it is a directory")


def test_force_replaces_an_existing_file_with_the_export(
    run: Invoke, api: httpx.Client, job: str, tmp_path: Path
) -> None:
    for value in (0.2, 0.3, 0.4):
        set_budget(api, job, value)
    target = tmp_path / "history.ndjson"
    target.write_text("old contents\n")

    result = ok(run("budget", "history", "-j", job, "--all", "--output", str(target), "--force"))

    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [record["budget_value"] for record in records] == [0.4, 0.3, 0.2]
    assert f"Wrote 3 records to {target}" in result.stderr
    assert leftovers(tmp_path) == []


def test_a_new_file_gets_the_usual_permissions(
    run: Invoke, api: httpx.Client, job: str, tmp_path: Path
) -> None:
    set_budget(api, job, 0.2)
    target = tmp_path / "history.ndjson"
    mask = os.umask(0o022)
    try:
        ok(run("budget", "history", "-j", job, "--output", str(target)))
    finally:
        os.umask(mask)

    assert target.stat().st_mode & 0o777 == 0o644  # as open() makes it, not a private temp file


def test_a_failed_export_leaves_the_existing_file_untouched_and_no_partial_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "history.ndjson"
    target.write_text("precious\n")

    result = invoke_cli("--url", unreachable(), "budget", "history", "-o", str(target), "--force")

    assert result.exit_code == EXIT_UNREACHABLE  # the server's error, not a file error
    assert target.read_text() == "precious\n"
    assert leftovers(tmp_path) == []


class FirstPageThenDown(BaseHTTPRequestHandler):
    """Answers the first page of a listing with a cursor to more, then 503s."""

    first_page: bytes = b""
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        status, body = (200, self.first_page) if self.requests == 1 else (503, b"{}")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def first_page_then_down(api: httpx.Client, job: str) -> Iterator[str]:
    """A stand-in server whose first page is a real page of the live server's patterns."""
    for index in range(3):
        create_pattern(api, f"{job}-{index}")
    page = api.get("/v1/patterns", params={"limit": 2}).json()
    assert page["next_cursor"]
    handler = type("Handler", (FirstPageThenDown,), {"first_page": json.dumps(page).encode()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_export_that_fails_midway_writes_no_file(
    first_page_then_down: str, tmp_path: Path
) -> None:
    target = tmp_path / "patterns.ndjson"

    result = invoke_cli(
        "--url", first_page_then_down, "patterns", "list", "--all", "--page-size", "2", "-o",
        str(target),
    )  # fmt: skip

    assert result.exit_code == 1  # the server's 503
    assert not target.exists()
    assert leftovers(tmp_path) == []


def run_cli(*args: str, prefix: tuple[str, ...] = ()) -> Any:
    """The console script in its own process (privileges and resource limits are per process),
    started through `prefix` (a command that runs its arguments)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENTROPY_BUDGET_")}
    return subprocess.run(
        [*prefix, str(CONSOLE_SCRIPT), *args],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_permission_denied_is_one_line_and_exit_3(server: Server) -> None:
    """A directory the user cannot write to. Root ignores permission bits, so as root the CLI
    runs without the capability that lets it (setpriv drops CAP_DAC_OVERRIDE)."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permission bits cannot be enforced")
        prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search")
    directory = Path(tempfile.mkdtemp(prefix="eb-read-only-"))
    directory.chmod(0o555)
    target = directory / "history.ndjson"
    try:
        result = run_cli(
            "--url", server.base_url, "budget", "history", "-o", str(target), prefix=prefix
        )
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory)

    assert result.returncode == EXIT_LOCAL_FILE, result.stderr
    assert_one_error_line(result.stderr, f"cannot write {target}: Permission denied")
    assert result.stdout == ""


def test_a_write_that_fails_midway_is_one_line_and_leaves_no_file(
    server: Server, api: httpx.Client, job: str, tmp_path: Path
) -> None:
    for index in range(40):
        set_budget(api, job, 0.1 + index / 100)
    target = tmp_path / "history.ndjson"

    prlimit = shutil.which("prlimit")
    if prlimit is None:
        pytest.skip("prlimit (util-linux) is not installed")
    # Past 2000 bytes a write fails with EFBIG ("File too large"), as a full disk would fail
    # (SIGXFSZ ignored, as it stays across exec, so the write returns the error).
    limited = ("sh", "-c", f'trap "" XFSZ; exec {prlimit} --fsize=2000 -- "$@"', "sh")
    result = run_cli(
        "--url", server.base_url, "budget", "history", "-j", job, "--all", "--page-size", "5",
        "-o", str(target), prefix=limited,
    )  # fmt: skip

    assert result.returncode == EXIT_LOCAL_FILE, result.stderr
    assert result.stderr.splitlines()[-1] == f"Error: cannot write {target}: File too large"
    assert "Traceback" not in result.stderr
    assert not target.exists()
    assert leftovers(tmp_path) == []
