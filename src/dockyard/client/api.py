"""HTTP/1.1 over a unix socket: the Engine API as the CLI sees it.

Contract:

* ``APIClient(host)`` takes ``unix:///path/to.sock``; every path given to it
  is relative to the version prefix (``/containers/json`` is sent as
  ``/v1.47/containers/json``).
* Plain calls (``get``, ``post``, ``delete``, ``head``) return the decoded
  JSON body, or ``None`` for an empty body.
* An error status raises the matching kind from ``dockyard.errors`` with the
  daemon's ``message``; such errors have ``from_daemon = True`` so the CLI can
  prefix "Error response from daemon: " exactly where docker does.  A socket
  that is missing or refuses connections raises ``Unavailable`` with docker's
  "Cannot connect to the … daemon" wording.
* Streaming calls hand back the live ``connection.Response`` (``read``,
  ``read1``, ``readline``, iteration by line, ``close``), with the chunked
  framing undone.  ``hijack`` takes the connection over for attach: it
  returns the raw socket plus any bytes already read past the response
  headers.

Plain calls share one keep-alive connection (retried once on a fresh one
when the daemon had closed it while idle); each streaming or hijacked
call gets a fresh one, since it owns its connection until the end.

The HTTP itself is ``connection``'s, a few hundred lines on a plain
socket: ``http.client`` would triple the CLI's import time.
"""

from __future__ import annotations

import json
import os
import socket

from dockyard import __version__, errors
from dockyard.client.connection import Connection, Disconnected, Response
from dockyard.client.stream import json_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

API_VERSION = "1.47"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
USER_AGENT = f"Dockyard-Client/{__version__} (linux)"

# The one table from HTTP status back to error kind (the daemon holds the
# inverse).  Anything else >= 400 is a SystemError.
_KINDS: dict[int, type[errors.DockyardError]] = {
    304: errors.NotModified,
    400: errors.InvalidArgument,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    500: errors.SystemError,
    503: errors.Unavailable,
}

# The reason phrase stands in for the message when the body has none.
_REASONS = {
    304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}

# RFC 3986 unreserved characters: never percent-encoded.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def default_host(environ: dict[str, str] | None = None) -> str:
    """The daemon address when ``-H`` is not given.

    ``DOCKYARD_HOST`` wins; ``DOCKER_HOST`` is honoured only when it names a
    unix socket (a tcp:// docker host is not ours to talk to).
    """
    env = os.environ if environ is None else environ
    host = env.get("DOCKYARD_HOST")
    if host:
        return host
    docker_host = env.get("DOCKER_HOST", "")
    if docker_host.startswith("unix://"):
        return docker_host
    return DEFAULT_HOST


def socket_path(host: str) -> str:
    """The filesystem path of a ``unix://`` host; InvalidArgument otherwise."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if path:
            return path
    elif host.startswith("/"):
        return host
    raise errors.InvalidArgument(
        f"unable to parse docker host `{host}`: only unix:// addresses are supported")


def encode_query(params: dict[str, Any] | None) -> str:
    """Engine-API query encoding.

    ``None`` and ``False`` are left out (the API's defaults), ``True`` is
    ``1``, lists repeat the key, dicts (filters) are sent as JSON in
    docker's ``{"key": {"value": true}}`` shape when their values are lists.
    """
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None or value is False:
            continue
        if value is True:
            pairs.append((key, "1"))
        elif isinstance(value, (list, tuple)):
            pairs.extend((key, str(v)) for v in value)
        elif isinstance(value, dict):
            if not value:
                continue
            shaped = {k: ({x: True for x in v} if isinstance(v, (list, tuple)) else v)
                      for k, v in value.items()}
            pairs.append((key, json.dumps(shaped, separators=(",", ":"))))
        else:
            pairs.append((key, str(value)))
    if not pairs:
        return ""
    return "?" + "&".join(f"{_percent(k, plus=True)}={_percent(v, plus=True)}"
                          for k, v in pairs)


def quote_segment(segment: str) -> str:
    """Quote a name or id for use as one path segment (image names hold '/')."""
    return _percent(segment, safe=b":@")


def _percent(text: str, safe: bytes = b"", plus: bool = False) -> str:
    """Percent-encode UTF-8 ``text`` as urllib's ``quote`` (or, with
    ``plus``, ``quote_plus``) does, without importing urllib.parse."""
    out = []
    for byte in text.encode():
        if byte in _UNRESERVED or byte in safe:
            out.append(chr(byte))
        elif plus and byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def error_from_status(status: int, body: bytes) -> errors.DockyardError:
    """Build the error kind for an HTTP error status and its body."""
    message = ""
    try:
        decoded = json.loads(body)
        if isinstance(decoded, dict):
            message = str(decoded.get("message", ""))
    except ValueError:
        message = body.decode("utf-8", "replace").strip()
    if not message:
        message = _REASONS.get(status, f"status {status}")
    kind = _KINDS.get(status, errors.SystemError if status >= 400 else errors.DockyardError)
    err = kind(message)
    err.from_daemon = True  # type: ignore[attr-defined]
    err.status = status  # type: ignore[attr-defined]
    return err


class Hijacked:
    """A connection taken over after ``101 UPGRADED`` (or ``200``).

    ``buffered`` holds stream bytes that arrived with the response headers
    and must be processed before reading ``sock``.  ``close_write`` is the
    half-close that tells the daemon stdin has ended.
    """

    __slots__ = ("sock", "buffered", "headers")

    def __init__(self, sock: socket.socket, buffered: bytes, headers: dict[str, str]):
        self.sock = sock
        self.buffered = buffered
        self.headers = headers

    def close_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


class APIClient:
    """Engine API client; see the module docstring for the contract."""

    def __init__(self, host: str | None = None, version: str = API_VERSION):
        self.host = host or default_host()
        self.path = socket_path(self.host)
        self.prefix = f"/v{version}"
        self._conn: Connection | None = None

    # -- plain calls -------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("GET", path, params)

    def post(self, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        return self._call("POST", path, params, body)

    def delete(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("DELETE", path, params)

    def head(self, path: str, params: dict[str, Any] | None = None) -> dict[str, str]:
        """Send a HEAD request; return the response headers (lower-cased)."""
        response, _ = self._exchange("HEAD", path, params, None, {})
        return dict(response.headers)

    def _call(self, method: str, path: str, params: Any, body: Any = None) -> Any:
        headers: dict[str, str] = {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        _, data = self._exchange(method, path, params, payload, headers)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    def _exchange(self, method: str, path: str, params: Any, payload: bytes | None,
                  headers: dict[str, str]) -> tuple[Response, bytes]:
        """One request on the shared connection: the response and its whole
        body.  Raises the error kind on an error status."""
        target = self.prefix + path + encode_query(params)
        hdrs = {"User-Agent": USER_AGENT, **headers}
        while True:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            try:
                conn.send(method, target, hdrs, payload)
                response = conn.response()
            except Disconnected:
                self.close()
                if conn.requests > 1:
                    # The daemon closed the kept-alive connection while it
                    # was idle; nothing was processed, so retrying is safe.
                    continue
                raise
            try:
                data = response.read()
            except BaseException:
                self.close()
                raise
            if response.will_close:
                self.close()
            if response.status >= 300:
                raise error_from_status(response.status, data)
            return response, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- streaming ---------------------------------------------------------

    def open(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: Any = None, headers: dict[str, str] | None = None) -> Connection:
        """Send a request on its own connection without reading the response.

        Used where the response comes much later (``/wait`` is sent before
        the container starts); the connection's ``sock`` can be select()ed.
        Finish with ``response(conn)``.
        """
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        payload = body
        if isinstance(body, (dict, list)):
            payload = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn = self._connect()
        try:
            conn.send(method, self.prefix + path + encode_query(params), hdrs, payload)
        except BaseException:
            conn.close()
            raise
        return conn

    def response(self, conn: Connection) -> Response:
        """Read the response of ``open``; raises the error kind on failure."""
        try:
            response = conn.response()
            if response.status >= 300:
                raise error_from_status(response.status, response.read())
        except BaseException:
            conn.close()
            raise
        return response

    def stream(self, method: str, path: str, params: dict[str, Any] | None = None,
               body: Any = None, headers: dict[str, str] | None = None) -> Response:
        """A request whose response body is consumed incrementally.

        ``body`` may be bytes, JSON-able data, or a binary file object, which
        is sent with its size when known, else chunked.
        """
        return self.response(self.open(method, path, params, body, headers))

    def stream_json(self, method: str, path: str, params: dict[str, Any] | None = None,
                    body: Any = None, headers: dict[str, str] | None = None) -> Iterator[dict]:
        """Iterate the JSON objects of a line-delimited JSON response."""
        response = self.stream(method, path, params, body, headers)
        try:
            yield from json_lines(response)
        finally:
            response.close()

    def hijack(self, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Hijacked:
        """POST with ``Upgrade: tcp`` and take the raw socket over.

        Accepts ``101`` and ``200`` (older daemons answer attach with 200 and
        then stream raw); any error status raises the matching kind.
        """
        payload = b"" if body is None else json.dumps(body).encode()
        headers = {"User-Agent": USER_AGENT, "Connection": "Upgrade", "Upgrade": "tcp",
                   "Content-Type": "application/json"}
        conn = self._connect()
        try:
            conn.send("POST", self.prefix + path + encode_query(params), headers, payload)
            try:
                response = conn.response()
            except Disconnected:
                raise errors.Unavailable(
                    "the daemon closed the connection during attach") from None
            if response.status not in (101, 200):
                raise error_from_status(response.status, response.read())
        except BaseException:
            conn.close()
            raise
        sock, buffered = conn.take_over()
        return Hijacked(sock, buffered, response.headers)

    # -- internals ---------------------------------------------------------

    def _connect(self) -> Connection:
        try:
            return Connection(self.path)
        except OSError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: OSError) -> errors.DockyardError:
        if isinstance(exc, PermissionError):
            return errors.Forbidden(
                "permission denied while trying to connect to the dockyard daemon socket "
                f"at {self.host}: connect: permission denied")
        return errors.Unavailable(
            f"Cannot connect to the dockyard daemon at {self.host}. "
            "Is the dockyard daemon running?")
