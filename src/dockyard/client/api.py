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
* Streaming calls hand back the live ``http.client.HTTPResponse``; chunked
  decoding is http.client's.  ``hijack`` takes the connection over for
  attach: it returns the raw socket plus any bytes already read past the
  response headers.

Plain calls share one keep-alive connection; each streaming or hijacked
call gets a fresh one, since it owns its connection until the end.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any, Iterator
from urllib.parse import quote, urlencode

from dockyard import __version__, errors
from dockyard.client.stream import json_lines

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
    return "?" + urlencode(pairs) if pairs else ""


def quote_segment(segment: str) -> str:
    """Quote a name or id for use as one path segment (image names hold '/')."""
    return quote(segment, safe=":@")


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
        message = http.client.responses.get(status, f"status {status}")
    kind = _KINDS.get(status, errors.SystemError if status >= 400 else errors.DockyardError)
    err = kind(message)
    err.from_daemon = True  # type: ignore[attr-defined]
    err.status = status  # type: ignore[attr-defined]
    return err


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over an AF_UNIX stream socket."""

    def __init__(self, path: str, timeout: float | None = None):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if self.timeout is not None:
                sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


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
        self._conn: UnixHTTPConnection | None = None

    # -- plain calls -------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("GET", path, params)

    def post(self, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        return self._call("POST", path, params, body)

    def delete(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("DELETE", path, params)

    def head(self, path: str, params: dict[str, Any] | None = None) -> dict[str, str]:
        """Send a HEAD request; return the response headers (lower-cased)."""
        response = self._exchange(self._shared(), "HEAD", path, params, None, {})
        response.read()
        return {k.lower(): v for k, v in response.getheaders()}

    def _call(self, method: str, path: str, params: Any, body: Any = None) -> Any:
        headers: dict[str, str] = {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self._exchange(self._shared(), method, path, params, payload, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The kept-alive connection was closed by the daemon between
            # requests; one retry on a fresh connection is safe here.
            self.close()
            response = self._exchange(self._shared(), method, path, params, payload, headers)
        data = response.read()
        if response.will_close:
            self.close()
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    def _shared(self) -> UnixHTTPConnection:
        if self._conn is None:
            self._conn = UnixHTTPConnection(self.path)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- streaming ---------------------------------------------------------

    def open(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: Any = None, headers: dict[str, str] | None = None) -> UnixHTTPConnection:
        """Send a request on its own connection without reading the response.

        Used where the response comes much later (``/wait`` is sent before
        the container starts).  Finish with ``response(conn)``.
        """
        conn = UnixHTTPConnection(self.path)
        hdrs = dict(headers or {})
        payload = body
        if isinstance(body, (dict, list)):
            payload = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        self._send(conn, method, path, params, payload, hdrs)
        return conn

    def response(self, conn: UnixHTTPConnection) -> http.client.HTTPResponse:
        """Read the response of ``open``; raises the error kind on failure."""
        return self._check(conn.getresponse())

    def stream(self, method: str, path: str, params: dict[str, Any] | None = None,
               body: Any = None, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
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
        target = self.prefix + path + encode_query(params)
        head = (f"POST {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {USER_AGENT}\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n").encode()
        sock = self._connect_raw()
        try:
            sock.sendall(head + payload)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    raise errors.Unavailable("the daemon closed the connection during attach")
                data += chunk
            raw_head, _, rest = data.partition(b"\r\n\r\n")
            lines = raw_head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if status not in (101, 200):
                length = int(headers.get("content-length", "0") or 0)
                while len(rest) < length:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                raise error_from_status(status, rest)
        except BaseException:
            sock.close()
            raise
        return Hijacked(sock, rest, headers)

    # -- internals ---------------------------------------------------------

    def _connect_raw(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise self._unreachable(exc) from None
        return sock

    def _unreachable(self, exc: OSError) -> errors.DockyardError:
        if isinstance(exc, PermissionError):
            return errors.Forbidden(
                "permission denied while trying to connect to the dockyard daemon socket "
                f"at {self.host}: connect: permission denied")
        return errors.Unavailable(
            f"Cannot connect to the dockyard daemon at {self.host}. "
            "Is the dockyard daemon running?")

    def _send(self, conn: UnixHTTPConnection, method: str, path: str, params: Any,
              body: Any, headers: dict[str, str]) -> None:
        url = self.prefix + path + encode_query(params)
        hdrs = {"User-Agent": USER_AGENT, **headers}
        chunked = False
        if hasattr(body, "read"):
            size = _file_size(body)
            if size is None:
                chunked = True
                hdrs["Transfer-Encoding"] = "chunked"
                source = body
                body = iter(lambda: source.read(1 << 16), b"")
            else:
                hdrs["Content-Length"] = str(size)
        try:
            conn.request(method, url, body=body, headers=hdrs, encode_chunked=chunked)
        except OSError as exc:
            if conn.sock is None or isinstance(exc, (FileNotFoundError, ConnectionRefusedError,
                                                     PermissionError)):
                conn.close()
                raise self._unreachable(exc) from None
            raise

    def _exchange(self, conn: UnixHTTPConnection, method: str, path: str, params: Any,
                  body: Any, headers: dict[str, str]) -> http.client.HTTPResponse:
        self._send(conn, method, path, params, body, headers)
        return self._check(conn.getresponse())

    @staticmethod
    def _check(response: http.client.HTTPResponse) -> http.client.HTTPResponse:
        if response.status >= 300:
            body = response.read()
            raise error_from_status(response.status, body)
        return response


def _file_size(fileobj: Any) -> int | None:
    """Bytes left in a regular file, or None for pipes and terminals."""
    try:
        import stat

        st = os.fstat(fileobj.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        return st.st_size - fileobj.tell()
    except (AttributeError, OSError, ValueError):
        return None
