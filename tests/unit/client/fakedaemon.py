"""A tiny fake Engine API server on a unix socket, for client-side tests.

Routes are ``(METHOD, regex on the unversioned path) → handler(request)``;
a handler returns ``(status, body)`` where body is JSON-able, bytes, or a
callable taking the raw ``wfile``/``rfile`` (for chunked, streaming and
hijacked responses).  Every request is recorded in ``daemon.requests``.
"""

from __future__ import annotations

import json
import re
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


class Request:
    def __init__(self, method: str, path: str, query: dict[str, list[str]],
                 headers: Any, body: bytes, handler: BaseHTTPRequestHandler):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.handler = handler

    def json(self) -> Any:
        return json.loads(self.body)

    def q(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[-1] if values else None


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeDaemon:
    def __init__(self, path: str):
        self.path = path
        self.routes: list[tuple[str, re.Pattern[str], Callable[[Request], Any]]] = []
        self.requests: list[Request] = []
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def address_string(self) -> str:
                return "unix"

            def _handle(self) -> None:
                url = urlsplit(self.path)
                path = re.sub(r"^/v[0-9.]+", "", url.path)
                body = b""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            break
                        body += chunk
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else b""
                request = Request(self.command, path, parse_qs(url.query, keep_blank_values=True),
                                  self.headers, body, self)
                daemon.requests.append(request)
                for method, pattern, fn in daemon.routes:
                    if method == self.command and pattern.fullmatch(path):
                        result = fn(request)
                        break
                else:
                    result = (404, {"message": f"page not found: {path}"})
                if callable(result):
                    result(self)
                    self.close_connection = True
                    return
                status, payload = result
                data = payload if isinstance(payload, bytes) else (
                    b"" if payload is None else json.dumps(payload).encode())
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _handle

        self.server = _Server(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def route(self, method: str, pattern: str, fn: Callable[[Request], Any]) -> None:
        self.routes.append((method, re.compile(pattern), fn))

    def reply(self, method: str, pattern: str, status: int, body: Any) -> None:
        self.route(method, pattern, lambda _req: (status, body))

    def __enter__(self) -> "FakeDaemon":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def chunked(status: int, chunks: list[bytes], content_type: str = "application/json",
            before_each: Callable[[int], None] | None = None) -> Callable[[Any], None]:
    """A streaming response body written as HTTP chunks."""
    def write(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.flush()
        for i, chunk in enumerate(chunks):
            if before_each:
                before_each(i)
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    return write
