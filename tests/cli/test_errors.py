"""Errors: an unreachable server (exit 2) and problem answers (exit 1, detail on stderr)."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.cli.helpers import Invoke, invoke_cli, ok
from tests.support import Server, free_port

pytestmark = pytest.mark.e2e


def test_unreachable_server_is_one_line_naming_the_url_and_exit_2() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = invoke_cli("--url", url, "budget", "show")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot reach the entropy-budget server at {url} (connection refused)"
    ]


def test_the_url_can_come_from_the_environment(server: Server, api: httpx.Client) -> None:
    result = ok(invoke_cli("alerts", "--json", env={"ENTROPY_BUDGET_URL": server.base_url}))
    assert json.loads(result.stdout) == api.get("/v1/alerts").json()


def test_not_found_prints_title_and_detail_and_exits_1(run: Invoke, job: str) -> None:
    result = run("budget", "show", "--job", job)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"Error: Not found (404): No exploration budget has been recorded for job '{job}'."
    )


def test_not_found_on_a_patch(run: Invoke) -> None:
    result = run("patterns", "validate", "no-such-pattern")

    assert result.exit_code == 1
    assert "Not found (404): No pattern 'no-such-pattern'." in result.stderr


def test_validation_problem_prints_the_field_errors_and_exits_1(run: Invoke) -> None:
    result = run("budget", "history", "--job", "not a job", "--limit", "5")

    assert result.exit_code == 1
    first, *fields = result.stderr.strip().splitlines()
    assert first.startswith("Error: Request validation failed (422): query.job_hash:")
    assert fields == ["  query.job_hash: String should match pattern '^[A-Za-z0-9._:-]{0,128}$'"]


def test_unreadable_cursor_is_the_servers_422(run: Invoke) -> None:
    result = run("entropy", "history", "--cursor", "not-a-cursor")

    assert result.exit_code == 1
    assert "  query.cursor: unreadable cursor" in result.stderr.splitlines()


class RecordingHandler(BaseHTTPRequestHandler):
    """A stand-in server: records the headers it gets and answers with a canned response."""

    seen: list[dict[str, str]]
    status = 200
    content_type = "application/json"
    body = b""

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers.items()))
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[tuple[str, type[RecordingHandler]]]:
    handler = type("Handler", (RecordingHandler,), {"seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


ALERTS = {"job_hash": None, "firing": 0, "alerts": []}


def test_api_key_is_sent_as_a_bearer_token(
    stand_in: tuple[str, type[RecordingHandler]],
) -> None:
    url, handler = stand_in
    handler.body = json.dumps(ALERTS).encode()

    ok(invoke_cli("--url", url, "--api-key", "s3cret", "alerts"))
    ok(invoke_cli("alerts", env={"ENTROPY_BUDGET_URL": url, "ENTROPY_BUDGET_API_KEY": "k2"}))
    ok(invoke_cli("--url", url, "alerts"))

    authorizations = [headers.get("Authorization") for headers in handler.seen]
    assert authorizations == ["Bearer s3cret", "Bearer k2", None]


def test_an_error_page_that_is_not_a_problem_still_exits_1(
    stand_in: tuple[str, type[RecordingHandler]],
) -> None:
    url, handler = stand_in
    handler.status = 502
    handler.content_type = "text/html"
    handler.body = b"<html>upstream down</html>"

    result = invoke_cli("--url", url, "alerts")

    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: Bad Gateway (502): <html>upstream down</html>"
