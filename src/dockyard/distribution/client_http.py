"""HTTP/1.1 to registries: stdlib `http.client`, pooled, for worker threads.

The daemon is asyncio, but registry traffic is bulk transfer: blocking
`http.client` calls in worker threads (a pull runs its downloads three at a
time) cost less than an async HTTP stack and need no dependency.  Every call
here blocks; callers run them with `asyncio.to_thread` or in an executor.

`Transport.request` sends one request and returns a `Reply` whose body is
read by the caller, whole (`read`) or as chunks (`chunks`); `close` hands
the connection back to the pool when the body was read to its end, and
drops it otherwise.  Connections are pooled per (scheme, host, TLS
verification).  Redirects are followed for GET and HEAD (blob downloads are
often redirected to storage), and credentials are never sent to another
host.

Failures to connect or to speak HTTP become `TransportError` (an
`Unavailable`) with the wording docker users know: ``Get
"https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io:
no such host``.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import urllib.parse
from typing import BinaryIO, Iterator, Mapping

from dockyard.errors import Unavailable

DEFAULT_TIMEOUT = 30.0
CHUNK = 1 << 20
MAX_SMALL_BODY = 4 << 20  # manifests, configs, error bodies, token answers
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5
_MAX_IDLE = 8


class TransportError(Unavailable):
    """The registry could not be reached, or did not speak HTTP."""


class Reply:
    """One response: status, headers, and the body still to read."""

    def __init__(self, transport: "Transport", key: tuple, conn: http.client.HTTPConnection,
                 response: http.client.HTTPResponse, method: str, url: str):
        self._transport = transport
        self._key = key
        self._conn: http.client.HTTPConnection | None = conn
        self._response = response
        self.method = method
        self.url = url
        self.status = response.status
        self.reason = response.reason

    def header(self, name: str, default: str | None = None) -> str | None:
        return self._response.getheader(name, default)

    def header_values(self, name: str) -> list[str]:
        return self._response.headers.get_all(name) or []

    @property
    def length(self) -> int | None:
        value = self.header("Content-Length")
        return int(value) if value and value.isdigit() else None

    def read(self, limit: int = MAX_SMALL_BODY) -> bytes:
        """The whole body (at most `limit` bytes, else TransportError); closes the reply."""
        try:
            data = self._response.read(limit + 1)
            if len(data) > limit:
                raise TransportError(f"{self.method} {self.url}: response body larger than {limit} bytes")
            if self._response.read(1):
                raise TransportError(f"{self.method} {self.url}: response body larger than {limit} bytes")
            return data
        except (OSError, http.client.HTTPException) as exc:
            raise _transport_error(self.method, self.url, exc) from None
        finally:
            self.close()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The body in pieces as they arrive; closes the reply at the end."""
        try:
            while True:
                chunk = self._response.read1(size)
                if not chunk:
                    return
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise _transport_error(self.method, self.url, exc) from None
        finally:
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._response.isclosed() and not self._response.will_close:
            self._transport._release(self._key, conn)
        else:
            self._response.close()
            conn.close()

    def __enter__(self) -> "Reply":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """Pooled HTTP/1.1 connections to registries (thread-safe)."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, user_agent: str = "dockyard"):
        self.timeout = timeout
        self.user_agent = user_agent
        self._idle: dict[tuple, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._verified = ssl.create_default_context()
        self._unverified = ssl.create_default_context()
        self._unverified.check_hostname = False
        self._unverified.verify_mode = ssl.CERT_NONE

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | BinaryIO | None = None,
        *,
        verify_tls: bool = True,
        timeout: float | None = None,
    ) -> Reply:
        """Send one request; redirects of GET/HEAD are followed.

        A file `body` needs a Content-Length header; it is streamed, never
        read into memory.  A request that finds a pooled connection closed
        by the server is retried once on a fresh one when its body can be
        sent again.  With `timeout`, the request gets a connection of its
        own with that timeout, closed afterwards (probes).
        """
        hdrs = {"User-Agent": self.user_agent, **(headers or {})}
        for _ in range(_MAX_REDIRECTS + 1):
            reply = self._send(method, url, hdrs, body, verify_tls, timeout)
            if reply.status not in _REDIRECTS or method not in ("GET", "HEAD"):
                return reply
            location = reply.header("Location")
            reply.read()
            if not location:
                raise TransportError(f"{method} {url}: redirect without a Location")
            target = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(target).netloc != urllib.parse.urlsplit(url).netloc:
                hdrs = {k: v for k, v in hdrs.items() if k.lower() != "authorization"}
            url = target
        raise TransportError(f"{method} {url}: stopped after {_MAX_REDIRECTS} redirects")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    # -- internals ------------------------------------------------------------------------

    def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | BinaryIO | None,
              verify_tls: bool, timeout: float | None) -> Reply:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TransportError(f"{method} {url}: not an http(s) URL")
        key: tuple = (parts.scheme, parts.netloc, verify_tls)
        if timeout is not None:
            key += ("unpooled",)
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        replayable = body is None or isinstance(body, (bytes, bytearray))
        start = _tell(body)
        for attempt in (1, 2):
            if timeout is not None:
                conn, reused = self._connect(key, timeout), False
            else:
                conn, reused = self._acquire(key)
            try:
                conn.request(method, target, body=body, headers=dict(headers))
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                stale = reused and isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))
                if attempt == 1 and stale and (replayable or start is not None):
                    if start is not None:
                        body.seek(start)  # type: ignore[union-attr]
                    continue
                raise _transport_error(method, url, exc) from None
            except BaseException:
                conn.close()  # cancelled while sending (a body's read raised): the connection is spent
                raise
            return Reply(self, key, conn, response, method, url)
        raise AssertionError("unreachable")

    def _acquire(self, key: tuple) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        return self._connect(key, self.timeout), False

    def _connect(self, key: tuple, timeout: float) -> http.client.HTTPConnection:
        scheme, netloc, verify_tls = key[:3]
        if scheme == "https":
            context = self._verified if verify_tls else self._unverified
            return http.client.HTTPSConnection(netloc, timeout=timeout, context=context, blocksize=CHUNK)
        return http.client.HTTPConnection(netloc, timeout=timeout, blocksize=CHUNK)

    def _release(self, key: tuple, conn: http.client.HTTPConnection) -> None:
        if len(key) > 3:  # a probe's own connection
            conn.close()
            return
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < _MAX_IDLE:
                idle.append(conn)
                return
        conn.close()


def _tell(body: object) -> int | None:
    if body is None or isinstance(body, (bytes, bytearray)):
        return None
    try:
        return body.tell() if body.seekable() else None  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None


def _transport_error(method: str, url: str, exc: BaseException) -> TransportError:
    """Docker's wording for a failed request: ``Get "URL": reason``."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or parts.netloc
    if isinstance(exc, socket.gaierror):
        reason = f"dial tcp: lookup {host}: no such host"
    elif isinstance(exc, ConnectionRefusedError):
        reason = f"dial tcp {parts.netloc}: connect: connection refused"
    elif isinstance(exc, (socket.timeout, TimeoutError)):
        reason = f"dial tcp {parts.netloc}: i/o timeout"
    elif isinstance(exc, ssl.SSLError):
        reason = f"tls: {getattr(exc, 'reason', None) or exc}"
    elif isinstance(exc, http.client.RemoteDisconnected):
        reason = "EOF"
    else:
        reason = str(exc) or type(exc).__name__
    error = TransportError(f'{method.capitalize()} "{url}": {reason}')
    error.tls = isinstance(exc, ssl.SSLError)  # type: ignore[attr-defined]
    return error


__all__ = ["CHUNK", "Reply", "Transport", "TransportError"]
