"""Pure ASGI middleware (no BaseHTTPMiddleware: it would cost every request a task)."""

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.problems import field_error, http_problem, problem_response, validation_problem


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with a 413 problem, declared or streamed.

    Starlette's own limiter answers in plain text; ours keeps the problem format. A declared
    Content-Length over the limit is refused before the app runs; a body that grows past it
    while being read raises a 413 HTTPException inside the route, answered by its handlers.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(http_problem(413, self._detail()))
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, receive_within_limit, send)

    def _detail(self) -> str:
        return f"The request body exceeds {self.max_bytes} bytes."


class Utf8JsonBody:
    """A JSON request body must be UTF-8: anything else is a 422 before the app sees it.

    The standard library's json.loads(bytes) silently guesses UTF-16 and UTF-32 from NUL
    bytes, which valid UTF-8 JSON never contains raw. Bodies are already bounded by
    BodySizeLimit, so buffering one to check it is cheap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _declares_json(Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\x00" in body or not _is_utf8(body):
            problem = validation_problem(
                [field_error(("body",), "The body is not valid UTF-8 JSON", "json_invalid")]
            )
            await problem_response(problem)(scope, receive, send)
            return
        await self.app(
            scope,
            _replay([{"type": "http.request", "body": body, "more_body": False}], receive),
            send,
        )


def _declares_json(headers: Headers) -> bool:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type.startswith("application/") and (
        media_type == "application/json" or media_type.endswith("+json")
    )


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive channel that hands out `messages` first, then the original channel."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive
