"""Outbound safety: where a webhook may be sent, and the one way it is sent.

A webhook URL is a request the service makes on a user's behalf, so it must not reach what
only the service can reach (loopback, private networks, cloud metadata). The rules:
- `https` only; no user info in the URL; a host is required.
- Every address the host resolves to must be global, judged after unwrapping the IPv6 forms
  that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`,
  NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`); the known metadata addresses are refused
  by name as well.
- The connection goes to an address that was checked, resolved in the same step (so a name
  that resolves elsewhere the second time, DNS rebinding, gains nothing); TLS still verifies
  the certificate against the URL's host name: the check lives in an httpcore network backend,
  under httpcore's TLS.
- httpcore, not httpx: no proxy from the environment, no redirect following, no cookies.
`WEBHOOKS_ALLOW_PRIVATE=true` lifts the address and scheme rules (tests, single-host setups).
"""

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
)
"""Cloud instance metadata services (AWS/GCP/Azure, Alibaba, Oracle, AWS over IPv6)."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""host, port -> the addresses (as text) a connection may go to."""


class UnsafeDestinationError(ValueError):
    """A URL or address a webhook must not go to. The message names the URL's host and the
    offending address, never the URL's path or query (they may carry tokens)."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    """The host as sent (IDNA-encoded; an IPv6 literal without brackets)."""
    port: int
    target: bytes
    """Path and query."""

    def url(self) -> httpcore.URL:
        return httpcore.URL(scheme=self.scheme, host=self.host, port=self.port, target=self.target)


def parse_destination(url: str, *, allow_private: bool) -> Destination:
    """The URL's parts after the static rules (scheme, user info, host); an address literal is
    checked here too. Names are checked when they are resolved."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise UnsafeDestinationError("not a valid absolute URL") from None
    schemes = {"https", "http"} if allow_private else {"https"}
    if parsed.scheme not in schemes:
        shown = parsed.scheme or "none"
        raise UnsafeDestinationError(
            f"the scheme must be https (not {shown}); plain http only with "
            "WEBHOOKS_ALLOW_PRIVATE=true"
        )
    if parsed.userinfo:
        raise UnsafeDestinationError("a URL with user info (user:password@) is not accepted")
    if parsed.fragment:
        raise UnsafeDestinationError(
            "a URL with a fragment (#...) is not accepted: it is never sent"
        )
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise UnsafeDestinationError("the URL has no host")
    literal = _address_literal(host)
    if literal is None and not _HOST_NAME.fullmatch(host):
        raise UnsafeDestinationError("the URL's host is not a valid host name")
    if literal is not None and not allow_private:
        check_address(literal, host)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise UnsafeDestinationError(f"port {port} is not a TCP port")
    return Destination(parsed.scheme, host, port, parsed.raw_path)


def _address_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), else itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def check_address(address: IPAddress, host: str) -> None:
    """Refuse an address that is not global (after unwrapping) or is a metadata service."""
    inner = unwrap(address)
    shown = str(address) if inner == address else f"{address} (that is {inner})"
    if address in METADATA_ADDRESSES or inner in METADATA_ADDRESSES:
        raise UnsafeDestinationError(f"{host} is {shown}, a cloud metadata address")
    if address in _NAT64_LOCAL or not _is_public(inner):
        raise UnsafeDestinationError(f"{host} resolves to {shown}, which is not a global address")


def _is_public(address: IPAddress) -> bool:
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_link_local
        or address.is_loopback
        or address.is_private
    )


def check_resolved(host: str, addresses: Iterable[str], *, allow_private: bool) -> list[str]:
    """The addresses to connect to, once every one of them passed (all or none: a name with
    one private address among public ones is refused)."""
    found = list(dict.fromkeys(addresses))
    if not found:
        raise UnsafeDestinationError(f"{host} resolves to no address")
    if not allow_private:
        for text in found:
            check_address(ipaddress.ip_address(text), host)
    return found


def _resolve(host: str, port: int) -> list[str]:
    """The system resolver (getaddrinfo), blocking."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UnsafeDestinationError(f"{host} does not resolve ({error.strerror})") from None
    # The scope id of a link-local IPv6 result ("fe80::1%eth0") is not part of the address.
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


async def system_resolver(host: str, port: int) -> list[str]:
    """The system resolver, off the event loop."""
    return await asyncio.to_thread(_resolve, host, port)


def check_destination(url: str, *, allow_private: bool) -> Destination:
    """The check made when an endpoint is created or its URL changed: the static rules, then
    every address the host resolves to now (blocking: call it from a worker thread)."""
    destination = parse_destination(url, allow_private=allow_private)
    if _address_literal(destination.host) is None:
        found = _resolve(destination.host, destination.port)
        check_resolved(destination.host, found, allow_private=allow_private)
    return destination


class CheckingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking the host itself and connecting to a
    checked address; httpcore then starts TLS with the URL's host name as usual."""

    def __init__(self, *, allow_private: bool, resolver: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = _address_literal(host)
        found = [host] if literal is not None else await self._resolver(host, port)
        addresses = check_resolved(host, found, allow_private=self._allow_private)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeDestinationError("webhooks are not sent over unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


USER_AGENT = "entropy-budget-webhooks/0.1.0"


@dataclass(frozen=True)
class Answer:
    """What one attempt got: a status (and its Retry-After), or no answer and why."""

    status_code: int | None
    retry_after: str | None = None
    error: str | None = None


class Sender:
    """Posts webhook attempts, each within one total deadline, one connection each (every
    attempt resolves and checks its destination afresh)."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = timeout_seconds
        self._allow_private = allow_private
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(),
            max_keepalive_connections=0,
            retries=0,
            network_backend=CheckingBackend(allow_private=allow_private, resolver=resolver),
        )

    async def post(self, url: str, headers: Sequence[tuple[str, str]], body: bytes) -> Answer:
        try:
            destination = parse_destination(url, allow_private=self._allow_private)
            timeouts = dict.fromkeys(("connect", "read", "write", "pool"), self._timeout)
            async with (
                asyncio.timeout(self._timeout),
                self._pool.stream(
                    "POST",
                    destination.url(),
                    headers=[("User-Agent", USER_AGENT), *headers],
                    content=body,
                    extensions={"timeout": timeouts},
                ) as response,
            ):
                return Answer(response.status, _header(response.headers, b"retry-after"))
        except UnsafeDestinationError as refused:
            return Answer(None, error=f"destination refused: {refused}")
        except (TimeoutError, httpcore.TimeoutException):
            return Answer(None, error=f"no answer within {self._timeout:g} s")
        except (httpcore.NetworkError, httpcore.ProtocolError, ssl.SSLError, OSError) as error:
            return Answer(None, error=f"{type(error).__name__}: {error}"[:500])

    async def aclose(self) -> None:
        await self._pool.aclose()


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in headers if k.lower() == name), None)
