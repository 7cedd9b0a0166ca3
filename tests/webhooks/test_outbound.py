"""Outbound safety: which URLs and addresses a webhook may go to, checked at creation and at
every attempt, and how an attempt is sent (the checked address, TLS on the URL's name, no
proxy, no redirect, one total deadline)."""

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trustme
from fastapi.testclient import TestClient

from app.webhooks.outbound import (
    Answer,
    Sender,
    UnsafeDestinationError,
    check_destination,
    parse_destination,
)
from tests.webhooks.receiver import Reply, receiver

TRICK_URLS = {
    "IPv4-mapped loopback": "https://[::ffff:127.0.0.1]/hooks",
    "short dotted loopback": "https://127.1/hooks",
    "hexadecimal loopback": "https://0x7f000001/hooks",
    "Alibaba metadata": "https://100.100.100.200/latest/meta-data",
    "a name resolving to loopback": "https://localhost/hooks",
    "AWS/GCP/Azure metadata": "https://169.254.169.254/latest/meta-data",
    "AWS metadata over IPv6": "https://[fd00:ec2::254]/",
    "Oracle metadata": "https://192.0.0.192/",
    "NAT64 of loopback": "https://[64:ff9b::7f00:1]/",
    "6to4 of loopback": "https://[2002:7f00:1::]/",
    "IPv4-compatible loopback": "https://[::127.0.0.1]/",
    "IPv6 loopback": "https://[::1]/",
    "private network": "https://10.1.2.3/",
    "shared address space": "https://100.64.0.1/",
    "link-local IPv6": "https://[fe80::1]/",
    "unique local IPv6": "https://[fd12:3456::1]/",
    "multicast": "https://224.0.0.1/",
    "unspecified": "https://0.0.0.0/",
    "decimal loopback": "https://2130706433/",
}


@pytest.mark.parametrize("url", TRICK_URLS.values(), ids=TRICK_URLS.keys())
def test_addresses_that_are_not_global_are_refused_however_written(url: str) -> None:
    with pytest.raises(UnsafeDestinationError, match=r"not a global address|metadata address"):
        check_destination(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/hooks",
        "https://[2606:4700:4700::1111]/hooks?token=abc",
        "https://[64:ff9b::808:808]/",  # NAT64 of 8.8.8.8: a global address
        "https://[::ffff:8.8.8.8]:8443/",
    ],
)
def test_global_addresses_are_accepted(url: str) -> None:
    assert check_destination(url, allow_private=False).host


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://8.8.8.8/hooks", "scheme must be https"),
        ("ftp://8.8.8.8/", "scheme must be https"),
        ("hooks.example.com/x", "scheme must be https"),
        ("https://user:secret@8.8.8.8/", "user info"),
        ("https://token@8.8.8.8/", "user info"),
        ("https://8.8.8.8/#fragment", "fragment"),
        ("https:///no-host", "no host"),
        ("https://[::1/", "not a valid absolute URL"),
        ("https://0177.0.0.1/", "not a valid absolute URL"),  # octal: ambiguous, refused
        ("https://exa mple.com/", "not a valid host name"),
        ("https://%6cocalhost/", "not a valid host name"),
        ("https://example.com:99999/", "not a TCP port"),
    ],
)
def test_urls_breaking_the_static_rules_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeDestinationError, match=reason):
        parse_destination(url, allow_private=False)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UnsafeDestinationError, match="does not resolve"):
        check_destination("https://no-such-host.invalid/", allow_private=False)


def test_allow_private_lifts_the_address_and_scheme_rules_but_not_user_info() -> None:
    assert check_destination("http://127.0.0.1:8080/hooks", allow_private=True).port == 8080
    assert check_destination("http://localhost/hooks", allow_private=True).host == "localhost"
    with pytest.raises(UnsafeDestinationError, match="user info"):
        check_destination("http://u:p@127.0.0.1/", allow_private=True)


def test_refusals_name_the_host_and_address_but_never_the_path_or_query() -> None:
    with pytest.raises(UnsafeDestinationError) as refused:
        check_destination("https://127.1/secret-path?token=s3cr3t", allow_private=False)
    assert "127.1" in str(refused.value)
    assert "127.0.0.1" in str(refused.value)
    assert "secret-path" not in str(refused.value)
    assert "s3cr3t" not in str(refused.value)


@pytest.mark.parametrize("url", TRICK_URLS.values(), ids=TRICK_URLS.keys())
def test_the_api_refuses_them_with_a_422_on_url_and_creates_nothing(
    client: TestClient, url: str
) -> None:
    answer = client.post("/v1/webhooks", json={"url": url, "events": ["pattern.status_changed"]})

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [error["loc"] for error in answer.json()["errors"]] == [["body", "url"]]
    assert client.get("/v1/webhooks").json()["items"] == []


def test_a_url_changed_by_patch_is_checked_too(client: TestClient) -> None:
    created = client.post(
        "/v1/webhooks", json={"url": "https://8.8.8.8/hooks", "events": ["pattern.status_changed"]}
    ).json()

    answer = client.patch(f"/v1/webhooks/{created['id']}", json={"url": "https://127.1/"})

    assert answer.status_code == 422
    assert client.get(f"/v1/webhooks/{created['id']}").json()["url"] == "https://8.8.8.8/hooks"


# -- at each attempt ------------------------------------------------------------------------


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    """A resolver answering `addresses` for every name (what a hostile DNS server could do)."""

    async def resolve(_host: str, _port: int) -> list[str]:
        return list(addresses)

    return resolve


def post(sender: Sender, url: str) -> Answer:
    async def run() -> Answer:
        try:
            return await sender.post(url, [("content-type", "application/json")], b"{}")
        finally:
            await sender.aclose()

    return asyncio.run(run())


def test_an_attempt_refuses_a_name_that_now_resolves_to_loopback() -> None:
    """DNS rebinding: public when created, loopback when sent. The attempt resolves and checks
    afresh, and sends nothing."""
    with receiver() as hooks:
        sender = Sender(timeout_seconds=2, allow_private=False, resolver=resolving_to("127.0.0.1"))
        answer = post(sender, f"https://hooks.example.com:{hooks.port}/hooks")

    assert answer.status_code is None
    assert answer.error is not None
    assert "destination refused" in answer.error
    assert "127.0.0.1" in answer.error
    assert hooks.received() == []


def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    sender = Sender(
        timeout_seconds=2, allow_private=False, resolver=resolving_to("8.8.8.8", "10.0.0.7")
    )
    answer = post(sender, "https://hooks.example.com/hooks")
    assert answer.error is not None
    assert "10.0.0.7" in answer.error


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_server(authority: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(name).configure_cert(context)
    return context


def trusting(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


def test_the_connection_goes_to_the_checked_address_and_tls_verifies_the_url_host(
    authority: trustme.CA,
) -> None:
    with receiver(tls=tls_server(authority, "hooks.example.test")) as hooks:
        sender = Sender(
            timeout_seconds=5,
            allow_private=True,  # the checked address is loopback here
            resolver=resolving_to("127.0.0.1"),
            ssl_context=trusting(authority),
        )
        answer = post(sender, f"https://hooks.example.test:{hooks.port}/hooks")
        got = hooks.received()

    assert answer == Answer(204)
    assert [d.headers["host"] for d in got] == [f"hooks.example.test:{hooks.port}"]


def test_a_certificate_for_another_name_fails_the_attempt(authority: trustme.CA) -> None:
    with receiver(tls=tls_server(authority, "other.example.test")) as hooks:
        sender = Sender(
            timeout_seconds=5,
            allow_private=True,
            resolver=resolving_to("127.0.0.1"),
            ssl_context=trusting(authority),
        )
        answer = post(sender, f"https://hooks.example.test:{hooks.port}/hooks")
        got = hooks.received()

    assert answer.status_code is None
    assert answer.error is not None
    assert "hooks.example.test" in answer.error
    assert got == []


def test_proxies_from_the_environment_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with receiver() as hooks:
        answer = post(Sender(timeout_seconds=5, allow_private=True), hooks.url)
        got = hooks.received()
    assert answer == Answer(204)
    assert len(got) == 1


def test_redirects_are_not_followed() -> None:
    def redirect(delivery: object, count: int) -> Reply:
        return Reply(307, (("Location", "/elsewhere"),)) if count == 0 else Reply(204)

    with receiver(redirect) as hooks:
        answer = post(Sender(timeout_seconds=5, allow_private=True), hooks.url)
        got = hooks.received()
    assert answer.status_code == 307
    assert [d.path for d in got] == ["/hooks"]


@contextmanager
def trickling_server() -> Iterator[int]:
    """Accepts, reads the request, then sends the status line one byte every 0.2 s: each
    read is quick, the whole answer is slow."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n":
                if stop.is_set():
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def test_the_timeout_is_one_total_deadline_not_a_limit_per_read() -> None:
    with trickling_server() as port:
        started = time.monotonic()
        answer = post(Sender(timeout_seconds=1, allow_private=True), f"http://127.0.0.1:{port}/")
        took = time.monotonic() - started

    assert answer.status_code is None
    assert answer.error == "no answer within 1 s"
    assert 0.9 <= took < 2.0
