"""A scriptable HTTP server standing in for a registry (and its token server)
in the registry client's tests.

Routes are ``(METHOD, regex on the path) → handler(request)``; a handler
returns ``(status, headers, body)``.  Every request is recorded, so a test
can count what the client sent (one retry after a 401, never a storm).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes

    def q(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[-1] if values else None


Reply = tuple[int, dict[str, str], bytes]


class FakeRegistry:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Callable[[Seen], Reply]]] = []
        self.requests: list[Seen] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, url.path, parse_qs(url.query, keep_blank_values=True), self.headers, body)
                fake.requests.append(seen)
                for method, pattern, handler in fake.routes:
                    if method == self.command and pattern.fullmatch(url.path):
                        status, headers, data = handler(seen)
                        break
                else:
                    status, headers, data = 404, {"Content-Type": "application/json"}, \
                        b'{"errors":[{"code":"NOT_FOUND","message":"no route"}]}'
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def route(self, method: str, pattern: str, handler: Callable[[Seen], Reply]) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    def count(self, method: str, pattern: str) -> int:
        regex = re.compile(pattern)
        return sum(1 for r in self.requests if r.method == method and regex.fullmatch(r.path))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
