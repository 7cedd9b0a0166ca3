"""Structured logs: one JSON object per line on stderr, with the request id on every line.

Every record, the service's own (structlog) and everybody else's (stdlib: uvicorn, SQLAlchemy,
fastapi-problem...), goes through the standard library's logging and is rendered by structlog's
`ProcessorFormatter`, so all lines have the same fields: `timestamp` (ISO 8601, UTC), `level`,
`logger`, `event`, `request_id` (the X-Request-ID of the request being served, null outside a
request), plus the line's own fields (the access log: `method`, `path`, `route`, `status`,
`duration_ms`). `LOG_FORMAT=console` renders the same lines for a person (structlog's
`ConsoleRenderer`: aligned, coloured when stderr is a terminal and NO_COLOR is unset), and the
default `LOG_FORMAT=auto` picks console when stderr is a terminal, JSON otherwise (a file, a
pipe, a container's log driver).

`entropy-budget serve` hands `logging_config()` to uvicorn, which applies it in every worker
before the app loads; `create_app` applies it itself when nobody configured logging (an app
started by a bare `uvicorn app.main:create_app --factory`).
"""

import json
import logging
import logging.config
import os
import sys
from collections.abc import MutableMapping
from typing import IO, Any, Literal, cast

import orjson
import structlog
from asgi_correlation_id.context import correlation_id
from structlog.typing import Processor

LogFormat = Literal["json", "console"]
LogFormatSetting = Literal["auto", "json", "console"]
"""`LOG_FORMAT`: a format, or `auto` (console at a terminal, JSON otherwise)."""


def is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def resolved_format(log_format: LogFormatSetting, stream: IO[str]) -> LogFormat:
    """What `auto` means for lines written to `stream`: a person at a terminal reads console
    lines; anything else (a file, a pipe, a log collector) gets one JSON object a line."""
    if log_format != "auto":
        return log_format
    return "console" if is_terminal(stream) else "json"


def colours_for(stream: IO[str]) -> bool:
    """Colour codes only for a terminal, and never when NO_COLOR is set (no-color.org)."""
    return is_terminal(stream) and not os.environ.get("NO_COLOR")


def add_request_id(
    _logger: Any, _method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The id of the request this line was logged for (asgi-correlation-id's context)."""
    event_dict.setdefault("request_id", correlation_id.get())
    return event_dict


LEADING_FIELDS = ("timestamp", "level", "logger", "event", "request_id")


def leading_fields_first(
    _logger: Any, _method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Every line starts with the same fields, in the same order; the line's own follow."""
    ordered = {key: event_dict.pop(key) for key in LEADING_FIELDS if key in event_dict}
    ordered.update(event_dict)
    return ordered


TIMESTAMPER = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        TIMESTAMPER,
    ]


COMPLETE_LINE = "_entropy_budget_complete_line"
"""LogRecord attribute of a record whose event dict already holds every field of its line."""


def log_complete_line(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log a line per request cheaply (the access log): its leading fields are filled in here,
    so neither structlog's processor chain nor, in JSON, the formatter's runs for it. About
    20 us instead of 50 (benchmarks/layers.py). The record is the one structlog would make
    (`msg` the event dict, the attributes `wrap_for_formatter` adds), so handlers that are
    not ours (a test runner's) see the same thing. The caller checks the level first."""
    event_dict: dict[str, Any] = {
        "timestamp": TIMESTAMPER(None, "", {})["timestamp"],
        "level": logging.getLevelName(level).lower(),
        "logger": logger.name,
        "event": event,
        "request_id": correlation_id.get(),
        **fields,
    }
    record = logging.LogRecord(logger.name, level, "", 0, event_dict, None, None)
    record.__dict__.update(_logger=logger, _name=event_dict["level"], **{COMPLETE_LINE: True})
    logger.handle(record)


class JsonLineFormatter(structlog.stdlib.ProcessorFormatter):
    """ProcessorFormatter, but a complete line (`log_complete_line`) goes straight to the
    renderer: its fields are in place and in order, and it has no exception to format."""

    def __init__(self, renderer: structlog.processors.JSONRenderer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.renderer = renderer

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, COMPLETE_LINE, False):
            return str(self.renderer(None, "", cast(dict[str, Any], record.msg)))
        return super().format(record)


def configure_structlog() -> None:
    """structlog loggers hand their events to the standard library's logging (rendered by
    `formatter`); a call below the logger's level is dropped first, cheaply."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def drop_empty_fields(
    _logger: Any, _method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Console lines leave out fields without a value (`request_id=None` outside a request)."""
    for key in [key for key, value in event_dict.items() if value is None]:
        del event_dict[key]
    return event_dict


def orjson_text(value: Any, **kwargs: Any) -> str:
    """structlog's JSON serializer hook, on orjson: an access line's fields encode in 0.25 us
    against the standard library's 3 (timeit, docs/benchmarks.md). Non-string keys become
    strings and `default` is structlog's fallback, as with json.dumps. Lines stay ASCII (a
    client's U+2028 in a path must not split a line for `splitlines`), so a line orjson cannot
    encode (a lone surrogate, an integer past 64 bits) or encodes beyond ASCII is encoded by
    json.dumps, as before."""
    try:
        text = orjson.dumps(
            value, default=kwargs.get("default"), option=orjson.OPT_NON_STR_KEYS
        ).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, **kwargs)
    return text if text.isascii() else json.dumps(value, **kwargs)


def formatter(
    log_format: LogFormatSetting = "json", *, lean_records: bool = True
) -> structlog.stdlib.ProcessorFormatter:
    """The one formatter of every handler (named in `logging_config`'s dictConfig), for lines
    written to stderr (`auto` is decided here, in each process, by whether stderr is a
    terminal: uvicorn's workers inherit the server's stderr).

    With `lean_records` (the default, for a process whose logs this formatter renders), log
    records stop collecting what no line shows: the caller's file and line (a stack walk per
    record), the thread and process names. These are the standard library's own switches
    (the logging HOWTO, "Optimization"); they save a few microseconds per line, and the access
    log writes one line per request."""
    if lean_records:
        logging._srcfile = None  # documented in the logging HOWTO, "Optimization"
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
    remove_meta = structlog.stdlib.ProcessorFormatter.remove_processors_meta
    if resolved_format(log_format, sys.stderr) == "json":
        renderer = structlog.processors.JSONRenderer(serializer=orjson_text)
        return JsonLineFormatter(
            renderer,
            foreign_pre_chain=_shared_processors(),
            processors=[
                remove_meta,
                structlog.processors.format_exc_info,
                leading_fields_first,
                renderer,
            ],
        )
    console = structlog.dev.ConsoleRenderer(colors=colours_for(sys.stderr))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[remove_meta, drop_empty_fields, console],
    )


def logging_config(level: str, log_format: LogFormatSetting) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the process, uvicorn's loggers included (plain data,
    so uvicorn can pass it to the worker processes it spawns).

    uvicorn's own access log is muted: the service logs each request itself
    (`app.observability.middleware`), with its request id, route and duration."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": f"{__name__}.formatter", "log_format": log_format},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "structured",
            },
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": True, "level": "WARNING"},
        },
    }


def configure_logging(level: str, log_format: LogFormatSetting) -> None:
    configure_structlog()
    logging.config.dictConfig(logging_config(level, log_format))


def configure_logging_unless_configured(level: str, log_format: LogFormatSetting) -> None:
    """structlog always; the process's logging only when nobody configured it (a bare
    `uvicorn app.main:create_app --factory`, or `serve` before uvicorn applies the same
    configuration): test runners and embedding programs keep their own handlers."""
    configure_structlog()
    if not logging_is_configured():
        configure_logging(level, log_format)


def logging_is_configured() -> bool:
    """Whether something (uvicorn with our config, a test runner, an embedding program) already
    gave the process's root logger a handler."""
    return bool(logging.getLogger().handlers)
