"""The client's HTTP/1.1, on a plain AF_UNIX socket.

Just what the Engine API needs, and nothing that costs import time
(``http.client`` drags in ``email`` and ``ssl``, several times what the
rest of the CLI costs to start):

* A request is the request line, headers and a body: none, bytes, or a
  binary file object.  A file of known size is sent with Content-Length,
  anything else (a pipe, a terminal) with chunked transfer-encoding.
* A response is read as a status line, headers, then a body framed by
  Content-Length, by chunked transfer-encoding, or by the end of the
  connection.  HEAD, 1xx, 204 and 304 responses have no body.
* ``Response.read1`` returns as soon as any body bytes are known, so a
  followed log or event stream is passed on as it arrives.
* ``Connection.take_over`` ends the HTTP conversation (after ``101``
  switching protocols): it hands back the socket and the bytes already
  read past the response head, which belong to the raw stream.

A connection may carry several requests in turn (keep-alive) as long as
each response is read to its end before the next request.
"""

from __future__ import annotations

import os
import socket
import stat

from dockyard import errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Iterator

_BLOCK = 1 << 16
# A status line, header line or chunk-size line longer than this is not
# something our daemon sends; refuse it rather than buffer without bound.
_MAX_LINE = 1 << 16
_NO_BODY_STATUSES = (204, 304)


class Disconnected(errors.Unavailable):
    """The daemon closed the connection before or during a response."""


class Connection:
    """One AF_UNIX stream connection, speaking HTTP/1.1 as a client.

    ``sock`` is public so callers can ``select()`` on it.  Reads go through
    a small buffer (``_buf``) shared by the response head and body parsers.
    """

    __slots__ = ("sock", "requests", "_buf", "_method")

    def __init__(self, path: str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.requests = 0  # how many were sent: more than one means reused
        self._buf = b""
        self._method = "GET"

    # -- sending -----------------------------------------------------------

    def send(self, method: str, target: str, headers: dict[str, str], body: Any = None) -> None:
        """Send one request.  ``headers`` must not hold framing headers."""
        self.requests += 1
        self._method = method
        head = [f"{method} {_request_target(target)} HTTP/1.1", "Host: localhost"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        chunks: Iterator[bytes] | None = None
        payload = b""
        if body is None:
            if method in ("POST", "PUT", "PATCH"):
                head.append("Content-Length: 0")
        elif isinstance(body, (bytes, bytearray, memoryview)):
            payload = bytes(body)
            head.append(f"Content-Length: {len(payload)}")
        elif isinstance(body, str):
            payload = body.encode()
            head.append(f"Content-Length: {len(payload)}")
        else:
            size = file_size(body)
            if size is None:
                head.append("Transfer-Encoding: chunked")
                chunks = _chunked(body)
            else:
                head.append(f"Content-Length: {size}")
                chunks = _blocks(body, size)
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        try:
            if chunks is None:
                self.sock.sendall(data + payload)
                return
            self.sock.sendall(data)
            for block in chunks:
                self.sock.sendall(block)
        except (BrokenPipeError, ConnectionResetError):
            raise Disconnected("the daemon closed the connection during a request") from None

    # -- receiving ---------------------------------------------------------

    def response(self) -> Response:
        """Read the head of the response to the last request; the body is
        read through the returned ``Response``."""
        while True:
            try:
                status, reason, version, headers = self._read_head()
            except ConnectionResetError:
                raise Disconnected("the daemon closed the connection without a response") \
                    from None
            # Informational answers (100 Continue) precede the real one;
            # 101 is final: the connection is no longer HTTP.
            if status >= 200 or status == 101:
                return Response(self, self._method, status, reason, version, headers)

    def take_over(self) -> tuple[socket.socket, bytes]:
        """Leave HTTP: return the socket and the bytes already buffered."""
        leftover, self._buf = self._buf, b""
        return self.sock, leftover

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def _read_head(self) -> tuple[int, str, str, list[tuple[str, str]]]:
        line = self.readline()
        if not line:
            raise Disconnected("the daemon closed the connection without a response")
        parts = line.decode("latin-1").rstrip("\r\n").split(None, 2)
        try:
            version, status = parts[0], int(parts[1])
        except (IndexError, ValueError):
            raise errors.SystemError(f"malformed HTTP status line from the daemon: {line!r}") \
                from None
        if not version.startswith("HTTP/") or not 100 <= status <= 999:
            raise errors.SystemError(f"malformed HTTP status line from the daemon: {line!r}")
        reason = parts[2] if len(parts) > 2 else ""
        headers: list[tuple[str, str]] = []
        while True:
            line = self.readline()
            if not line:
                raise Disconnected("the daemon closed the connection in a response header")
            text = line.decode("latin-1").rstrip("\r\n")
            if not text:
                return status, reason, version, headers
            if text[0] in " \t" and headers:  # obsolete line folding
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {text.strip()}")
                continue
            name, _, value = text.partition(":")
            headers.append((name.strip(), value.strip()))

    def readline(self) -> bytes:
        """Bytes up to and including the next LF; fewer at end of stream."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end >= 0:
                line, self._buf = self._buf[:end + 1], self._buf[end + 1:]
                return line
            if len(self._buf) > _MAX_LINE:
                raise errors.SystemError("the daemon sent an overlong HTTP line")
            start = len(self._buf)
            data = self.sock.recv(_BLOCK)
            if not data:
                line, self._buf = self._buf, b""
                return line
            self._buf += data

    def read_some(self, limit: int) -> bytes:
        """At most ``limit`` bytes, waiting only if none are buffered."""
        if self._buf:
            data, self._buf = self._buf[:limit], self._buf[limit:]
            return data
        return self.sock.recv(limit)

    def read_exact(self, size: int) -> bytes:
        parts = []
        while size > 0:
            data = self.read_some(size)
            if not data:
                raise Disconnected("the daemon closed the connection in a response body")
            parts.append(data)
            size -= len(data)
        return b"".join(parts)


class Response:
    """A response whose body is read on demand, with the framing undone.

    Reads return the body only; ``b""`` means it has ended.  ``headers``
    maps lower-cased names to values (repeated headers joined by ", ").
    ``will_close`` says whether the daemon ends the connection after this
    response; if not, the connection can carry another request once the
    body has been read to its end.  ``close()`` closes the connection.
    """

    __slots__ = ("conn", "status", "reason", "version", "headers", "will_close",
                 "_length", "_chunked", "_chunk_left", "_after_chunk", "_pending", "_done")

    def __init__(self, conn: Connection, method: str, status: int, reason: str, version: str,
                 header_list: list[tuple[str, str]]):
        self.conn = conn
        self.status = status
        self.reason = reason
        self.version = version
        headers: dict[str, str] = {}
        for name, value in header_list:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.headers = headers
        tokens = {t.strip() for t in headers.get("connection", "").lower().split(",")}
        self.will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        self._chunked = False
        self._chunk_left = 0
        self._after_chunk = False  # the CRLF ending the previous chunk is still unread
        self._length: int | None = None  # None: until the connection ends
        self._pending = b""  # body bytes read ahead by readline
        self._done = False
        if method == "HEAD" or status in _NO_BODY_STATUSES or status < 200:
            self._length = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in headers:
            try:
                self._length = int(headers["content-length"])
            except ValueError:
                raise errors.SystemError("the daemon sent a malformed Content-Length") from None
        else:
            self.will_close = True
        if self._length == 0:
            self._done = True

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def read(self, amt: int | None = None) -> bytes:
        """The rest of the body, or up to ``amt`` bytes of it."""
        parts = []
        got = 0
        while amt is None or got < amt:
            data = self.read1(_BLOCK if amt is None else amt - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def read1(self, amt: int = _BLOCK) -> bytes:
        """Some body bytes (at most ``amt``), waiting only while none are known."""
        if self._pending:
            data, self._pending = self._pending[:amt], self._pending[amt:]
            return data
        if self._done or amt <= 0:
            return b""
        if self._chunked:
            return self._read_chunk(amt)
        if self._length is None:
            data = self.conn.read_some(amt)
            if not data:
                self._done = True
            return data
        data = self.conn.read_some(min(amt, self._length))
        if not data:
            raise Disconnected("the daemon closed the connection in a response body")
        self._length -= len(data)
        if self._length == 0:
            self._done = True
        return data

    def readline(self) -> bytes:
        """One line of the body, LF included; the last may lack it."""
        while True:
            end = self._pending.find(b"\n")
            if end >= 0:
                line, self._pending = self._pending[:end + 1], self._pending[end + 1:]
                return line
            pending, self._pending = self._pending, b""
            data = self.read1(_BLOCK)
            if not data:
                return pending
            self._pending = pending + data

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        self.conn.close()

    def _read_chunk(self, amt: int) -> bytes:
        conn = self.conn
        if self._chunk_left == 0:
            # Only now, when more is wanted, read past the previous chunk's
            # CRLF and the next size line: a live stream may pause here.
            if self._after_chunk:
                if conn.read_exact(2) != b"\r\n":
                    raise errors.SystemError("the daemon sent a malformed chunk")
                self._after_chunk = False
            line = conn.readline()
            if not line:
                raise Disconnected("the daemon closed the connection in a response body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise errors.SystemError("the daemon sent a malformed chunk size") from None
            if size == 0:
                while conn.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers: none that we use
                self._done = True
                return b""
            self._chunk_left = size
        data = conn.read_some(min(amt, self._chunk_left))
        if not data:
            raise Disconnected("the daemon closed the connection in a response body")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._after_chunk = True
        return data


def _request_target(target: str) -> str:
    """``target`` with spaces, controls and non-ASCII percent-encoded (as
    UTF-8), which a request line cannot carry; ``rm "a b"`` then gets the
    daemon's "No such container" instead of a malformed request."""
    if target.isascii() and target.isprintable() and " " not in target:
        return target
    return "".join(c if c.isascii() and c.isprintable() and c != " "
                   else "".join(f"%{b:02X}" for b in c.encode()) for c in target)


def file_size(fileobj: Any) -> int | None:
    """Bytes left in a regular file, or None for pipes and terminals."""
    try:
        st = os.fstat(fileobj.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        return st.st_size - fileobj.tell()
    except (AttributeError, OSError, ValueError):
        return None


def _blocks(fileobj: BinaryIO, size: int) -> Iterator[bytes]:
    """``size`` bytes of the file; Content-Length is already promised."""
    while size > 0:
        block = fileobj.read(min(_BLOCK, size))
        if not block:
            raise errors.InvalidArgument("the file being sent became shorter while sending")
        size -= len(block)
        yield block


def _chunked(fileobj: BinaryIO) -> Iterator[bytes]:
    while block := fileobj.read(_BLOCK):
        yield b"%x\r\n%s\r\n" % (len(block), block)
    yield b"0\r\n\r\n"
