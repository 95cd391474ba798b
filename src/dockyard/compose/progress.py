"""What ``up``, ``down`` and friends say while they work.

docker compose's plain progress: one line per step of one resource,
``" Container proj-web-1  Starting"``, written to stderr as it happens.
Steps of different resources interleave (services converge in parallel), so
every line is written whole under a lock.
"""

from __future__ import annotations

import threading
from typing import TextIO


class Progress:
    def __init__(self, out: TextIO | None, quiet: bool = False):
        self._out = out
        self._quiet = quiet or out is None
        self._lock = threading.Lock()

    def event(self, kind: str, name: str, status: str) -> None:
        """``kind`` is Container, Network, Volume or Image."""
        if kind == "Volume":
            name = f'"{name}"'
        self.line(f" {kind} {name}  {status}")

    def line(self, text: str) -> None:
        if self._quiet:
            return
        with self._lock:
            assert self._out is not None
            self._out.write(text + "\n")
            self._out.flush()

    def warn(self, text: str) -> None:
        """Warnings show even when quiet, as docker compose's do."""
        if self._out is None:
            return
        with self._lock:
            self._out.write(f"WARN[0000] {text}\n")
            self._out.flush()
