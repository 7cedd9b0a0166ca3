"""Structured logs: JSON lines with the request id, from the app's loggers and everybody else's."""

import io
import json
import logging
import os
import pickle
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from asgi_correlation_id.context import correlation_id
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from app.core import idempotency
from app.core.settings import Settings
from app.main import create_app
from app.observability.logs import (
    LogFormat,
    LogFormatSetting,
    configure_structlog,
    formatter,
    logging_config,
)
from tests.support import PROJECT_ROOT

HEX_ID = re.compile(r"[0-9a-f]{32}")
LINE_FIELDS = {"timestamp", "level", "logger", "event", "request_id"}


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    yield stream, handler
    logging.getLogger("test.logs").removeHandler(handler)


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def use(handler: logging.Handler, log_format: LogFormat = "json") -> logging.Logger:
    handler.setFormatter(formatter(log_format, lean_records=False))
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    configure_structlog()
    return logger


def assert_timestamp_is_utc_iso(value: str) -> None:
    assert value.endswith("Z"), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 60


def test_stdlib_and_structlog_lines_are_json_with_the_request_id(
    captured: tuple[io.StringIO, logging.Handler],
) -> None:
    stream, handler = captured
    stdlib = use(handler)
    token = correlation_id.set("req-1")
    try:
        stdlib.warning("a %s line", "stdlib")
        structlog.stdlib.get_logger("test.logs").info("a structlog line", readings=3)
    finally:
        correlation_id.reset(token)
    stdlib.info("outside any request")

    first, second, third = lines_of(stream)
    assert first.keys() == LINE_FIELDS
    assert list(second)[:5] == ["timestamp", "level", "logger", "event", "request_id"]
    assert first["event"] == "a stdlib line"
    assert (first["level"], first["logger"], first["request_id"]) == (
        "warning",
        "test.logs",
        "req-1",
    )
    assert second.keys() == LINE_FIELDS | {"readings"}
    assert (second["event"], second["readings"], second["request_id"]) == (
        "a structlog line",
        3,
        "req-1",
    )
    assert third["request_id"] is None
    for line in (first, second, third):
        assert_timestamp_is_utc_iso(line["timestamp"])


def test_fields_json_cannot_hold_still_make_one_json_line(
    captured: tuple[io.StringIO, logging.Handler],
) -> None:
    stream, handler = captured
    use(handler)
    odd = object()
    logger = structlog.stdlib.get_logger("test.logs")
    logger.info("odd fields", by_number={1: "one"}, thing=odd, text="caf\u00e9", path="/a\u2028b")
    logger.info("beyond orjson", lone_surrogate="\ud800", huge=2**70)

    assert stream.getvalue().isascii()
    odd_fields, beyond = lines_of(stream)  # U+2028 written raw would split a line
    assert odd_fields["by_number"] == {"1": "one"}
    assert odd_fields["thing"] == repr(odd)
    assert (odd_fields["text"], odd_fields["path"]) == ("caf\u00e9", "/a\u2028b")
    assert (beyond["lone_surrogate"], beyond["huge"]) == ("\ud800", 2**70)


def test_exceptions_are_one_json_line_with_the_traceback(
    captured: tuple[io.StringIO, logging.Handler],
) -> None:
    stream, handler = captured
    logger = use(handler)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("it failed")

    (line,) = lines_of(stream)
    assert line["event"] == "it failed"
    assert line["level"] == "error"
    assert "Traceback" in line["exception"]
    assert "ValueError: boom" in line["exception"]


def test_the_console_format_is_for_humans(captured: tuple[io.StringIO, logging.Handler]) -> None:
    stream, handler = captured
    logger = use(handler, "console")
    token = correlation_id.set("req-2")
    try:
        logger.info("hello")
    finally:
        correlation_id.reset(token)

    text = stream.getvalue()
    assert "hello" in text
    assert "req-2" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_the_logging_config_is_plain_data_for_uvicorns_workers() -> None:
    config = logging_config("debug", "json")

    assert pickle.loads(pickle.dumps(config)) == config  # spawned workers receive it
    assert config["root"]["level"] == "DEBUG"
    assert config["loggers"]["uvicorn.access"]["level"] == "WARNING"  # the app logs access


def test_a_process_nobody_configured_gets_json_lines_on_stderr() -> None:
    """What a bare `uvicorn app.main:create_app --factory` process gets from create_app."""
    script = (
        "import logging; from app.observability.logs import configure_logging;"
        "configure_logging('info', 'json');"
        "logging.getLogger('uvicorn.error').info('Started server process [%d]', 42);"
        "logging.getLogger('uvicorn.access').info('uvicorn access lines are muted');"
        "logging.getLogger('sqlalchemy').debug('below the level')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert result.stdout == ""
    (line,) = [json.loads(text) for text in result.stderr.splitlines()]
    assert line["event"] == "Started server process [42]"
    assert (line["logger"], line["level"], line["request_id"]) == ("uvicorn.error", "info", None)


def test_the_access_log_names_the_request(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        response = client.post(
            "/v1/jobs/job-1/entropy-readings",
            json={"entropy": 0.5},
            headers={"X-Request-ID": "abc123"},
        )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "abc123"

    (record,) = [r for r in caplog.records if r.name == "app.access"]
    assert isinstance(record.msg, dict)
    assert record.msg["request_id"] == "abc123"
    assert record.msg["event"] == "request"
    assert record.msg["method"] == "POST"
    assert record.msg["path"] == "/v1/jobs/job-1/entropy-readings"
    assert record.msg["route"] == "/v1/jobs/{job_hash}/entropy-readings"
    assert record.msg["status"] == 201
    assert record.msg["duration_ms"] > 0


@pytest.mark.parametrize(
    "sent",
    [None, "", "has spaces", "x" * 129, 'quote"d', "é-accent"],
    ids=["absent", "empty", "spaces", "too-long", "quote", "non-ascii"],
)
def test_a_missing_or_unusable_request_id_is_replaced_by_a_new_one(
    client: TestClient, sent: str | None
) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent.encode()}
    first = client.get("/healthz", headers=headers).headers["x-request-id"]
    second = client.get("/healthz", headers=headers).headers["x-request-id"]

    assert HEX_ID.fullmatch(first)
    assert HEX_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "sent",
    ["abc123", "0f8fad5b-d9cb-469f-a165-70867728950e", "nginx.1:2-3_x", "x" * 128],
)
def test_a_usable_request_id_is_kept_and_echoed(client: TestClient, sent: str) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": sent}).headers["x-request-id"] == sent


def test_problems_carry_the_request_id_too(client: TestClient) -> None:
    response = client.get("/v1/patterns/nope", headers={"X-Request-ID": "abc123"})

    assert response.status_code == 404
    assert response.headers["x-request-id"] == "abc123"


def test_the_access_log_can_be_turned_off(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=database_url, access_log=False)
    with (
        TestClient(create_app(settings)) as client,
        caplog.at_level(logging.INFO, logger="app.access"),
    ):
        assert client.get("/healthz").status_code == 200
        assert "entropy_budget_http_requests_total" in client.get("/metrics").text

    assert [r for r in caplog.records if r.name == "app.access"] == []


def test_a_failed_reading_batch_names_its_requests(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_store(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT INTO idempotency_keys", {}, Exception("disk I/O error"))

    monkeypatch.setattr(idempotency, "store", broken_store)
    with caplog.at_level(logging.WARNING, logger="app.readings"):
        response = client.post(
            "/v1/jobs/job-1/entropy-readings",
            json={"entropy": 0.5},
            headers={"X-Request-ID": "fail-1", "Idempotency-Key": "k-1"},
        )
    assert response.status_code == 503
    assert response.headers["x-request-id"] == "fail-1"

    (record,) = [r for r in caplog.records if r.name == "app.readings"]
    assert record.levelno == logging.WARNING
    assert isinstance(record.msg, dict)
    assert record.msg["event"] == "reading batch failed"
    assert record.msg["request_ids"] == ["fail-1"]
    assert record.msg["error"] == "OperationalError"


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
LOG_A_LINE = (
    "import logging; from app.observability.logs import configure_logging;"
    "configure_logging('info', {log_format!r});"
    "logging.getLogger('app.demo').warning('disk %s', 'full')"
)


def stderr_at_a_terminal(script: str, **env: str) -> str:
    """What `script` writes to stderr when stderr is a terminal (a pseudo-terminal here)."""
    primary, secondary = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "LOG_FORMAT")}
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=PROJECT_ROOT,
            env={**environment, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=secondary,
        )
        os.close(secondary)
        output = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the process exited and closed its end
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=60) == 0, output
    finally:
        os.close(primary)
    return output.decode()


def test_auto_writes_coloured_console_lines_at_a_terminal() -> None:
    text = stderr_at_a_terminal(LOG_A_LINE.format(log_format="auto"))

    assert ANSI_ESCAPE.search(text), text
    plain = ANSI_ESCAPE.sub("", text)
    assert "disk full" in plain
    assert "app.demo" in plain
    assert "request_id" not in plain  # no value outside a request: left out
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain)


def test_no_color_keeps_console_lines_plain() -> None:
    text = stderr_at_a_terminal(LOG_A_LINE.format(log_format="auto"), NO_COLOR="1")

    assert "disk full" in text
    assert not ANSI_ESCAPE.search(text), text


@pytest.mark.parametrize("log_format", ["auto", "json"])
def test_json_lines_when_stderr_is_not_a_terminal(log_format: LogFormatSetting) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOG_A_LINE.format(log_format=log_format)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    (line,) = [json.loads(text) for text in result.stderr.splitlines()]
    assert (line["event"], line["logger"], line["level"]) == ("disk full", "app.demo", "warning")


def test_json_even_at_a_terminal_when_asked() -> None:
    text = stderr_at_a_terminal(LOG_A_LINE.format(log_format="json"))

    (line,) = [json.loads(text) for text in text.splitlines()]
    assert line["event"] == "disk full"
