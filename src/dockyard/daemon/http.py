"""The HTTP/1.1 layer of the Engine API: h11 on asyncio streams.

Why h11: the Engine API needs things ordinary frameworks make hard: chunked
streaming for logs and events, and connection hijacking for attach (the
client asks ``Upgrade: tcp`` and the connection becomes a raw byte stream,
half-closed by the client when stdin ends).  A sans-IO parser lets us take
the raw connection over at exactly the right byte.

Pieces:

- `Request`: method, path, query, headers, and the body as a stream.
- Responses: `Response` (bytes), `StreamResponse` (chunked from an async
  iterator), `HijackResponse` (the handler gets the raw reader/writer).
- `Router`: the route table: (method, path pattern) → handler, with the
  ``/v1.NN`` prefix stripped and checked.
- `STATUS`: the one table from error kinds to HTTP status codes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import h11

from .. import errors

log = logging.getLogger("dockyard.http")

API_VERSION = "1.47"
MIN_API_VERSION = "1.24"

STATUS: dict[type, int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidArgument: 400,
    errors.NotModified: 304,
    errors.Forbidden: 403,
    errors.Unavailable: 503,
    errors.SystemError: 500,
}


def status_for(exc: BaseException) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


class Request:
    def __init__(self, conn: "Connection", event: h11.Request):
        self._conn = conn
        self.method = event.method.decode()
        target = event.target.decode("latin-1")
        path, _, qs = target.partition("?")
        self.raw_path = urllib.parse.unquote(path)
        self.path = self.raw_path
        self.api_version = API_VERSION
        self.query: dict[str, list[str]] = urllib.parse.parse_qs(qs, keep_blank_values=True)
        self.headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        self.params: dict[str, str] = {}
        self._body_done = False

    # -- query helpers -----------------------------------------------------------

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def q_list(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def q_bool(self, name: str, default: bool = False) -> bool:
        v = self.q(name)
        if v is None:
            return default
        return v.strip().lower() not in ("", "0", "false", "no")

    def q_int(self, name: str, default: int | None = None) -> int | None:
        v = self.q(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise errors.InvalidArgument(f"invalid value for {name}: {v!r}") from None

    def version_at_least(self, v: str) -> bool:
        return _version_tuple(self.api_version) >= _version_tuple(v)

    # -- body --------------------------------------------------------------------

    async def stream(self) -> AsyncIterator[bytes]:
        while not self._body_done:
            event = await self._conn.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._body_done = True
            else:  # ConnectionClosed mid-body
                self._body_done = True
                raise errors.InvalidArgument("unexpected end of request body")

    async def body(self) -> bytes:
        return b"".join([chunk async for chunk in self.stream()])

    async def json(self, required: bool = False) -> Any:
        raw = await self.body()
        if not raw.strip():
            if required:
                raise errors.InvalidArgument("request body is required")
            return None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise errors.InvalidArgument(f"invalid JSON: {e}") from None

    async def drain(self) -> None:
        async for _ in self.stream():
            pass


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list = field(default_factory=list)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj).encode() + b"\n")


def empty(status: int = 204) -> Response:
    return Response(status, b"", content_type="")


def error_response(exc: BaseException) -> Response:
    status = status_for(exc)
    message = exc.message if isinstance(exc, errors.DockyardError) else f"{type(exc).__name__}: {exc}"
    return json_response({"message": message}, status)


@dataclass
class StreamResponse:
    chunks: AsyncIterator[bytes]
    content_type: str = "application/json"
    status: int = 200
    headers: list = field(default_factory=list)


@dataclass
class HijackResponse:
    """Take the connection over; `run(reader, writer)` owns it until it returns."""

    run: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    content_type: str = "application/vnd.docker.raw-stream"
    # Called after the 101/200 head is written, before `run`.
    on_upgraded: Callable[[], Awaitable[None]] | None = None


Handler = Callable[[Request], Awaitable[Any]]


class Router:
    _VERSION = re.compile(r"^/v(\d+\.\d+)(/.*)$")

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)(?::([^}]+))?\}", lambda m: f"(?P<{m[1]}>{m[2] or '[^/]+'})", pattern)
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def resolve(self, request: Request) -> Handler:
        m = self._VERSION.match(request.raw_path)
        if m:
            version, request.path = m.group(1), m.group(2)
            if _version_tuple(version) > _version_tuple(API_VERSION):
                raise errors.InvalidArgument(
                    f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
                )
            if _version_tuple(version) < _version_tuple(MIN_API_VERSION):
                raise errors.InvalidArgument(
                    f"client version {version} is too old. Minimum supported API version is "
                    f"{MIN_API_VERSION}, please upgrade your client to a newer version"
                )
            request.api_version = version
        path_matched = False
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if match:
                path_matched = True
                if method == request.method or (method == "GET" and request.method == "HEAD"):
                    request.params = match.groupdict()
                    return handler
        if path_matched:
            raise _MethodNotAllowed()
        raise errors.NotFound("page not found")


class _MethodNotAllowed(errors.DockyardError):
    def __init__(self) -> None:
        super().__init__("method not allowed")


STATUS[_MethodNotAllowed] = 405


class Connection:
    """One client connection: a loop of request → handler → response."""

    def __init__(self, router: Router, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.router = router
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER)

    async def next_event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(65536)
                self.h11.receive_data(data)
                continue
            return event

    async def send(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def serve(self) -> None:
        try:
            while True:
                try:
                    event = await self.next_event()
                except h11.RemoteProtocolError as e:
                    await self._send_simple(json_response({"message": str(e)}, 400))
                    return
                if isinstance(event, (h11.ConnectionClosed,)) or event is h11.PAUSED:
                    return
                if not isinstance(event, h11.Request):
                    return
                request = Request(self, event)
                hijacked = await self._handle(request)
                if hijacked:
                    return
                if self.h11.our_state is h11.MUST_CLOSE or self.h11.their_state is h11.MUST_CLOSE:
                    return
                if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
                    self.h11.start_next_cycle()
                else:
                    return
        except (ConnectionError, h11.LocalProtocolError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                self.writer.close()
            except RuntimeError:
                pass

    async def _handle(self, request: Request) -> bool:
        try:
            handler = self.router.resolve(request)
            result = await handler(request)
        except errors.DockyardError as e:
            result = error_response(e)
        except Exception as e:  # noqa: BLE001 - a bug must become a 500, not a dropped connection
            log.exception("handler for %s %s failed", request.method, request.path)
            result = error_response(errors.SystemError(f"{type(e).__name__}: {e}"))
        if isinstance(result, HijackResponse):
            await self._hijack(request, result)
            return True
        if not request._body_done and self.h11.their_state is h11.SEND_BODY:
            await request.drain()
        if isinstance(result, StreamResponse):
            await self._send_stream(result)
        else:
            await self._send_simple(result, head=request.method == "HEAD")
        return False

    def _common_headers(self) -> list[tuple[str, str]]:
        return [
            ("Api-Version", API_VERSION),
            ("Docker-Experimental", "false"),
            ("Ostype", "linux"),
            ("Server", "Docker/28.2.2 (linux)"),
        ]

    async def _send_simple(self, resp: Response, head: bool = False) -> None:
        headers = self._common_headers() + list(resp.headers)
        if resp.content_type:
            headers.append(("Content-Type", resp.content_type))
        if resp.status not in (204, 304):
            headers.append(("Content-Length", str(len(resp.body))))
        await self.send(h11.Response(status_code=resp.status, headers=headers))
        if resp.body and not head and resp.status not in (204, 304):
            await self.send(h11.Data(data=resp.body))
        await self.send(h11.EndOfMessage())

    async def _send_stream(self, resp: StreamResponse) -> None:
        headers = self._common_headers() + list(resp.headers) + [("Content-Type", resp.content_type)]
        await self.send(h11.Response(status_code=resp.status, headers=headers))
        # A follower (logs -f, events, wait) may be quiet for hours: watch the
        # client at the same time, so that one who leaves frees what the stream
        # holds (files, waiters, subscriptions) at once, not at the next chunk.
        chunks = resp.chunks.__aiter__()
        client = asyncio.ensure_future(self.reader.read(65536))
        try:
            while True:
                following = asyncio.ensure_future(chunks.__anext__())
                await asyncio.wait({following, client}, return_when=asyncio.FIRST_COMPLETED)
                if following.done():
                    try:
                        chunk = following.result()
                    except StopAsyncIteration:
                        break
                    if chunk:
                        await self.send(h11.Data(data=chunk))
                    continue
                following.cancel()
                data = client.result()
                if not data:
                    raise ConnectionResetError("client went away during a stream")
                self.h11.receive_data(data)  # the client's next request, kept for later
                client = asyncio.ensure_future(self.reader.read(65536))
        finally:
            if not client.done():
                # Wait for the cancelled read to let go of the reader: the next
                # request's read must not find it still waiting.
                client.cancel()
                await asyncio.wait({client})
            if client.done() and not client.cancelled() and client.exception() is None and client.result():
                self.h11.receive_data(client.result())
            aclose = getattr(resp.chunks, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except RuntimeError:
                    pass  # already closing after the cancelled step
        await self.send(h11.EndOfMessage())

    async def _hijack(self, request: Request, resp: HijackResponse) -> None:
        upgrade = "upgrade" in request.headers.get("connection", "").lower()
        if not request._body_done and self.h11.their_state is h11.SEND_BODY:
            await request.drain()
        head = [f"HTTP/1.1 {'101 UPGRADED' if upgrade else '200 OK'}", f"Content-Type: {resp.content_type}"]
        if upgrade:
            head += ["Connection: Upgrade", "Upgrade: tcp"]
        head += [f"{k}: {v}" for k, v in self._common_headers()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await self.writer.drain()
        leftover, _closed = self.h11.trailing_data
        if leftover:
            # Bytes the client sent right after its request belong to the stream.
            self.reader._buffer[0:0] = leftover  # type: ignore[attr-defined]
        if resp.on_upgraded is not None:
            await resp.on_upgraded()
        await resp.run(self.reader, self.writer)


# Every connection's task, held strongly.  asyncio keeps only weak references
# to tasks, and a hijacked connection whose client has half-closed (attach
# without stdin) is no longer read by the loop: nothing else would keep its
# task alive while it waits on the container's shim, and the garbage
# collector would end the stream mid-way, silently.
_connections: set[asyncio.Task] = set()


async def serve_unix(router: Router, path: str) -> asyncio.AbstractServer:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        _connections.add(task)
        try:
            await Connection(router, reader, writer).serve()
        finally:
            _connections.discard(task)

    return await asyncio.start_unix_server(on_client, path=path, limit=1 << 20)
