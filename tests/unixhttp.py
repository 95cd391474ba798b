"""http.client over a unix socket, for tests that speak the Engine API directly.

A module of its own (not conftest) so that tests can import it by a name no
other test directory shares.
"""

from __future__ import annotations

import http.client
import socket


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over the daemon's unix socket, for tests that speak the API directly."""

    def __init__(self, path: str):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(self.path)
