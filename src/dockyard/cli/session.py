"""What every command receives: the daemon address, a lazily made client,
the output streams, and the one way errors become messages and exit codes.

Commands are functions ``(session, argv) -> int``.  They raise
``StatusError`` to exit with a given status and message, or let a
``DockyardError`` escape: ``main`` prints it with ``describe`` and exits 1,
as docker does for daemon errors.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from dockyard.client.api import APIClient


class StatusError(Exception):
    """Exit with ``status``, printing ``message`` (if any) on stderr."""

    def __init__(self, message: str = "", status: int = 1):
        super().__init__(message)
        self.message = message
        self.status = status


def describe(err: BaseException) -> str:
    """The message docker prints for an error: daemon errors get the
    "Error response from daemon: " prefix, connection errors do not."""
    message = getattr(err, "message", None) or str(err)
    if getattr(err, "from_daemon", False):
        return f"Error response from daemon: {message}"
    return message


class Session:
    """Per-invocation context shared by the commands."""

    def __init__(self, host: str | None, stdout: TextIO | None = None,
                 stderr: TextIO | None = None):
        self.host = host
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._client: APIClient | None = None

    @property
    def client(self) -> APIClient:
        if self._client is None:
            from dockyard.client.api import APIClient

            self._client = APIClient(self.host)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def out(self, text: str = "", end: str = "\n") -> None:
        self.stdout.write(text + end)

    def err(self, text: str = "", end: str = "\n") -> None:
        self.stderr.write(text + end)
        self.stderr.flush()
