"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 (in a thread of the test
process) that records every request it gets and answers as the test scripts it."""

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got: its headers (lower-cased names), body and arrival."""

    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    def verify(self, secret: str) -> object:
        """What the reference library makes of it (raises WebhookVerificationError)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    hang: bool = False
    """Never answer (until the receiver stops)."""


Script = Callable[[Delivery, int], Reply]
"""How to answer: given the request and how many requests came before it."""


def always(status: int = 204) -> Script:
    return lambda _delivery, _count: Reply(status)


class Receiver:
    def __init__(self, script: Script, *, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.secret: str | None = None
        """The endpoint's secret, once the test knows it: every delivery the receiver got is
        then verified with the reference library when it stops."""
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.hanging = 0
        self.active = 0
        self.most_active = 0
        """The most requests it was answering at once."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                delivery = Delivery(
                    self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    body,
                    time.monotonic(),
                )
                with receiver._lock:
                    count = len(receiver.deliveries)
                    receiver.deliveries.append(delivery)
                    receiver.active += 1
                    receiver.most_active = max(receiver.most_active, receiver.active)
                try:
                    self._answer(receiver.script(delivery, count))
                finally:
                    with receiver._lock:
                        receiver.active -= 1

            def _answer(self, reply: Reply) -> None:
                if reply.hang:
                    with receiver._lock:
                        receiver.hanging += 1
                    receiver._stopping.wait()
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def received(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def wait_for(
        self, condition: Callable[[list[Delivery]], bool], timeout: float = 20.0
    ) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if condition(got):
                return got
            time.sleep(0.02)
        raise AssertionError(
            f"the receiver did not get what was expected; it got {len(self.received())}"
        )

    @contextmanager
    def running(self) -> Iterator["Receiver"]:
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self._stopping.set()
            self._server.shutdown()
            self._server.server_close()
        if self.secret is not None:
            for delivery in self.received():
                delivery.verify(self.secret)


@contextmanager
def receiver(
    script: Script | None = None, *, tls: ssl.SSLContext | None = None
) -> Iterator[Receiver]:
    with Receiver(script or always(), tls=tls).running() as running:
        yield running
