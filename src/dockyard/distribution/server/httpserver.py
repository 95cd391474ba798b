"""The registry's HTTP/1.1 server: a thread per connection, blocking I/O.

Why not the daemon's h11-on-asyncio layer: the registry's work is moving
large bodies between sockets and files.  With a thread per connection the
hashing (hashlib lets go of the GIL on large buffers), the disk writes and
the ``sendfile`` of blobs run in parallel across connections, with no
hand-off between an event loop and worker threads; the registry needs none
of the daemon's hijacking and never-ending streams.

The application is one callable, ``app(Request) -> Response``: this module
knows HTTP, not registries.  A request body is read on demand into the
caller's buffer (`Body.readinto`), from Content-Length or chunked framing.
"Expect: 100-continue" is answered only when the application starts reading
the body, so a request refused up front (a 401) never has its body sent.
"""

from __future__ import annotations

import email.utils
import logging
import socket
import ssl
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO, Callable

log = logging.getLogger("dockyard.registry")

# A body refused without being read is drained if it is this small; a
# larger one ends the connection instead.
_DRAIN_LIMIT = 1 << 20
_IDLE_TIMEOUT = 300.0


class BodyError(Exception):
    """The request body ended early or its chunked framing is broken."""


class Body:
    """A request body, read at most once, in the caller's buffers."""

    def __init__(self, rfile, length: int | None, chunked: bool, on_first_read: Callable[[], None]):
        self._rfile = rfile
        self._remaining = length or 0       # Content-Length bytes, or of the current chunk
        self._chunked = chunked
        self._ended = not chunked and not length
        self._broken = False
        self._on_first_read: Callable[[], None] | None = on_first_read
        self.length = None if chunked else (length or 0)

    @property
    def ended(self) -> bool:
        return self._ended

    def readinto(self, buffer: memoryview) -> int:
        """Fill `buffer` as far as the body goes; 0 once it has ended."""
        if self._on_first_read is not None:
            self._on_first_read()
            self._on_first_read = None
        if self._broken:
            raise BodyError("the request body ended early")
        filled = 0
        while filled < len(buffer) and not self._ended:
            if self._remaining == 0:
                if not self._chunked or not self._next_chunk():
                    self._ended = True
                    break
            want = min(self._remaining, len(buffer) - filled)
            n = self._rfile.readinto(buffer[filled:filled + want])
            if not n:
                self._broken = True
                if filled:
                    break  # hand over what did arrive; the next read raises
                raise BodyError("the request body ended early")
            filled += n
            self._remaining -= n
            if self._remaining == 0 and self._chunked:
                if self._rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise BodyError("a chunk of the request body is not followed by CRLF")
            elif self._remaining == 0:
                self._ended = True
        return filled

    def _next_chunk(self) -> bool:
        line = self._rfile.readline(1026)
        if not line.endswith(b"\n"):
            raise BodyError("the request body's chunk size line is missing or too long")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BodyError("the request body's chunk size is not a number") from None
        if size < 0:
            raise BodyError("the request body's chunk size is negative")
        if size == 0:
            while self._rfile.readline(8194).strip():  # trailers, then the blank line
                pass
            return False
        self._remaining = size
        return True

    def read(self, limit: int) -> bytes | None:
        """The whole body if it is at most `limit` bytes, else None (not all read)."""
        if self.length is not None and self.length > limit:
            return None
        parts = []
        total = 0
        view = memoryview(bytearray(min(self.length or 65536, limit + 1) or 1))
        while total <= limit:
            n = self.readinto(view)
            if n == 0:
                return b"".join(parts)
            parts.append(bytes(view[:n]))
            total += n
        return None

    def drain(self, limit: int) -> bool:
        """Read and drop the rest of the body, if at most `limit` bytes; done?"""
        if self._ended:
            return True
        if self._broken:
            return False
        if self.length is not None and self._remaining > limit:
            return False
        scratch = memoryview(bytearray(65536))
        total = 0
        try:
            while total <= limit:
                n = self.readinto(scratch)
                if n == 0:
                    return True
                total += n
        except (BodyError, OSError):
            pass
        return False


@dataclass
class Request:
    method: str
    path: str                                   # decoded, without the query
    query: dict[str, list[str]]
    headers: object                             # http.client.HTTPMessage (case-insensitive)
    body: Body
    scheme: str
    host: str
    params: dict[str, str] = field(default_factory=dict)

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)  # type: ignore[attr-defined]

    def header_list(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []  # type: ignore[attr-defined]


@dataclass
class FileRange:
    """Part of an open file to send with sendfile(2); the server closes it."""

    file: BinaryIO
    offset: int
    length: int


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: FileRange | None = None

    @property
    def length(self) -> int:
        return self.file.length if self.file is not None else len(self.body)


App = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dockyard-registry"
    sys_version = ""
    rbufsize = 1 << 16
    timeout = _IDLE_TIMEOUT
    disable_nagle_algorithm = True
    server: "RegistryHTTPServer"
    _continue_pending = False   # a "100 Continue" owed on the first body read
    _linger = False             # closing with a body unread: linger (see _linger)

    def setup(self) -> None:
        context = self.server.tls
        if context is not None:
            # The handshake runs here, in the connection's thread, so that a
            # slow client cannot hold up the accept loop.
            self.request.settimeout(self.timeout)
            try:
                self.request = context.wrap_socket(self.request, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                log.debug("TLS handshake with %s failed: %s", self.client_address, exc)
                raise
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    def handle_expect_100(self) -> bool:
        self._continue_pending = True  # answered by the body's first read
        return True

    def _send_continue(self) -> None:
        if self._continue_pending:
            self._continue_pending = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _dispatch(self) -> None:
        request = self._request()
        try:
            response = self.server.app(request)
        except BodyError as exc:
            response = Response(400, [("Content-Type", "text/plain")], f"{exc}\n".encode())
            self.close_connection = True
        try:
            if not request.body.ended:
                # Unread body: a client still waiting for 100 Continue never
                # sends it; otherwise drop a small one and close on a large one.
                if self._continue_pending or not request.body.drain(_DRAIN_LIMIT):
                    self.close_connection = self._linger = True
            self._respond(request, response)
        finally:
            if response.file is not None:
                response.file.file.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _request(self) -> Request:
        target = self.path
        if not target.startswith("/"):  # absolute form, as sent to proxies
            target = urllib.parse.urlsplit(target)._replace(scheme="", netloc="").geturl() or "/"
        path, _, query = target.partition("?")
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        try:
            length = None if chunked else int(self.headers.get("Content-Length") or 0)
            if length is not None and length < 0:
                raise ValueError(length)
        except ValueError:
            length = 0  # framing unknown: answer, then close
            self.close_connection = True
        body = Body(self.rfile, length, chunked, self._send_continue)
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return Request(self.command, urllib.parse.unquote(path),
                       urllib.parse.parse_qs(query, keep_blank_values=True), self.headers, body,
                       "https" if self.server.tls is not None else "http", host)

    def _respond(self, request: Request, response: Response) -> None:
        status = HTTPStatus(response.status)
        lines = [f"HTTP/1.1 {status.value} {status.phrase}",
                 f"Date: {email.utils.formatdate(usegmt=True)}"]
        lines += [f"{k}: {v}" for k, v in response.headers]
        if status.value not in (204, 304):
            lines.append(f"Content-Length: {response.length}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        send_body = request.method != "HEAD" and status.value not in (204, 304)
        if response.file is not None and send_body:
            self.wfile.write(head)
            self.connection.sendfile(response.file.file, response.file.offset, response.file.length)
        else:
            self.wfile.write(head + response.body if send_body else head)
        self.log_request(status.value, response.length)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        # Request lines come from the client: keep control bytes (a TLS
        # hello sent to a plain-HTTP port) out of the log.
        text = (format % args).encode("ascii", "backslashreplace").decode()
        log.info("%s %s", self.address_string(), "".join(c if c.isprintable() else "?" for c in text))

    def finish(self) -> None:
        super().finish()
        if self._linger:
            _linger(self.connection)
        if self.server.tls is not None:
            self.connection.close()  # the TLS socket replaced the one socketserver closes


def _linger(sock: socket.socket) -> None:
    """Close after the client has read our answer: stop writing, then drop
    what it still sends for a moment, so that closing with unread data does
    not reset the connection before the response arrives."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2.0)
        for _ in range(1024):
            if not sock.recv(65536):
                break
    except (OSError, ValueError):
        pass


class RegistryHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, tls: ssl.SSLContext | None = None):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self.tls = tls
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # a client that left, a failed TLS handshake
            log.debug("connection from %s: %s", client_address, exc)
        else:
            log.exception("connection from %s failed", client_address)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> threading.Thread:
        """Serve from a background thread (tests, embedding); `shutdown()` stops it."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="registry-http", daemon=True)
        thread.start()
        return thread


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
