"""Where the embedded name server sends the names that are not internal.

Upstreams are the host's resolvers, read from the host's ``/etc/resolv.conf``
(or a fixed list given to the server: tests, a daemon option).  Queries are
forwarded from the daemon's own network namespace, the host's, by the event
loop that serves every container: the container's namespace may have no
route out at all, and the host's view of DNS (its VPN, its split horizon) is
the one a user expects.

That is also why a loopback resolver (systemd-resolved's 127.0.0.53, a local
dnsmasq) still works here, where docker has to treat it specially: it is
reachable from the host's namespace.  Like docker we prefer the others, and
fall back to the loopback ones only when the host has nothing else.

Forwarding, per query: the upstreams in order, at most three (glibc's
MAXNS), each over UDP and again over TCP when the answer comes back
truncated, each within a timeout.  NOERROR and NXDOMAIN end the search;
SERVFAIL, REFUSED, any other status, a timeout or an error move on to the
next upstream; when none is left the caller answers SERVFAIL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable

import dns.asyncquery
import dns.entropy
import dns.message
import dns.rcode

from dockyard.errors import InvalidArgument
from dockyard.network.dns_answers import describe

log = logging.getLogger(__name__)

HOST_RESOLV_CONF = "/etc/resolv.conf"
MAX_UPSTREAMS = 3
FORWARD_TIMEOUT = 4.0  # seconds per upstream, as docker; a stub resolver waits 5 before asking again
MAX_FORWARDS = 1024  # queries in flight at once, over all containers: each holds a socket
_WARN_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class Upstream:
    """A resolver to forward to: an IP address and a port."""

    host: str
    port: int = 53

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            raise InvalidArgument(f"invalid DNS server address {self.host!r}: not an IP address") from None
        if not 0 < self.port < 65536:
            raise InvalidArgument(f"invalid DNS server port {self.port}")

    @classmethod
    def parse(cls, text: str) -> Upstream:
        """``1.2.3.4``, ``1.2.3.4:5353``, ``2001:db8::1`` or ``[2001:db8::1]:5353``."""
        text = text.strip()
        host, port = text, "53"
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise InvalidArgument(f"invalid DNS server {text!r}: expected [ADDRESS]:PORT")
            port = rest[1:] or "53"
        elif text.count(":") == 1:
            host, _, port = text.partition(":")
        try:
            return cls(host, int(port))
        except ValueError:
            raise InvalidArgument(f"invalid DNS server {text!r}: bad port {port!r}") from None

    @property
    def is_loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def from_resolv_conf(text: str) -> list[Upstream]:
    """The ``nameserver`` lines of a resolv.conf, non-loopback ones first choice.

    Lines that do not parse are skipped, as the C library skips them.
    """
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                found.append(Upstream(fields[1]))
            except InvalidArgument:
                continue
    outside = [u for u in found if not u.is_loopback]
    return (outside or found)[:MAX_UPSTREAMS]


class HostUpstreams:
    """The host's resolvers, re-read whenever its resolv.conf changes (DHCP, a VPN).

    Called for every forwarded query; costs one stat(2) when nothing changed.
    """

    def __init__(self, path: str = HOST_RESOLV_CONF):
        self._path = path
        self._seen: tuple[int, int, int] | None = None
        self._upstreams: list[Upstream] = []

    def __call__(self) -> list[Upstream]:
        try:
            st = os.stat(self._path)
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            if key != self._seen:
                with open(self._path, encoding="utf-8", errors="replace") as f:
                    self._upstreams = from_resolv_conf(f.read())
                self._seen = key
        except OSError as e:
            log.warning("cannot read the host's DNS servers from %s: %s", self._path, e.strerror)
            self._seen, self._upstreams = None, []
        return self._upstreams


class Forwarder:
    """Asks the upstreams for what the containers' names do not cover.

    At most `limit` queries are in flight at once; past that `forward`
    answers None at once (the caller's SERVFAIL), which bounds the daemon's
    sockets and memory however hard the containers query.
    """

    def __init__(self, upstreams: Callable[[], list[Upstream]], timeout: float = FORWARD_TIMEOUT, limit: int = MAX_FORWARDS):
        self._upstreams = upstreams
        self._timeout = timeout
        self._limit = limit
        self._in_flight = 0
        self._warned_at = 0.0

    async def forward(self, query: dns.message.Message, upstreams: list[Upstream] | None = None) -> dns.message.Message | None:
        """The first useful upstream response to `query`, with the query's ID; None if none.

        `upstreams`, if given, replace the usual ones for this query.

        The upstreams see a fresh random ID, not the client's: the client's
        ID may be predictable (0, a counter), and the answer to a guessed ID
        is how a forged response gets accepted.
        """
        if self._in_flight >= self._limit:
            now = time.monotonic()
            if now - self._warned_at > _WARN_INTERVAL:
                self._warned_at = now
                log.warning("more than %d DNS queries waiting for upstream servers: answering SERVFAIL", self._limit)
            return None
        self._in_flight += 1
        client_id = query.id
        try:
            for upstream in (self._upstreams() if upstreams is None else upstreams)[:MAX_UPSTREAMS]:
                query.id = dns.entropy.random_16()
                response = await self._ask(upstream, query)
                if response is not None and response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                    response.id = client_id
                    return response
            return None
        finally:
            query.id = client_id
            self._in_flight -= 1

    async def _ask(self, upstream: Upstream, query: dns.message.Message) -> dns.message.Message | None:
        try:
            async with asyncio.timeout(self._timeout):
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, upstream.host, port=upstream.port, ignore_unexpected=True
                )
        except TimeoutError:
            log.debug("DNS server %s did not answer %s within %gs", upstream, describe(query), self._timeout)
            return None
        except Exception as e:  # noqa: BLE001 - any failure of one upstream means: try the next
            log.debug("DNS server %s failed on %s: %r", upstream, describe(query), e)
            return None
        if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            log.debug("DNS server %s answered %s to %s", upstream, dns.rcode.to_text(response.rcode()), describe(query))
        return response
