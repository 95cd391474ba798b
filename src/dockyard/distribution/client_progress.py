"""What a pull or push reports as it goes, and docker's JSON form of it.

`Progress` is one message: a status for one item (a layer, named by its
short digest) or for the whole operation (no id).  Pull and push hand them to
a `Report` callback, from several threads at once; the daemon's route turns
each into the line docker's API streams (`to_api`):

    {"status":"Downloading","progressDetail":{"current":1048576,"total":3145728},
     "progress":"[================>                                  ]  1.049MB/3.146MB",
     "id":"4d1f3c2b1a09"}

`Throttle` keeps byte counters from flooding the stream: at most one update
per layer every 100 ms, plus the last.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from dockyard.units import human_size

_BAR_WIDTH = 50
_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class Progress:
    status: str
    id: str = ""
    current: int | None = None
    total: int | None = None
    aux: Mapping[str, Any] | None = field(default=None)
    plain: bool = False  # a message about the item, not a step of it: no progressDetail

    def to_api(self) -> dict:
        """docker's JSONMessage (status, progressDetail, progress, id, aux)."""
        message: dict[str, Any] = {"status": self.status}
        if self.plain:
            pass
        elif self.current is not None:
            detail: dict[str, int] = {"current": self.current}
            if self.total:
                detail["total"] = self.total
            message["progressDetail"] = detail
            message["progress"] = progress_bar(self.current, self.total or 0)
        elif self.id or self.aux is not None:
            message["progressDetail"] = {}
        if self.id:
            message["id"] = self.id
        if self.aux is not None:
            message["aux"] = dict(self.aux)
            del message["status"]
        return message


Report = Callable[[Progress], None]


def progress_bar(current: int, total: int) -> str:
    """docker's JSONProgress.String at the daemon's width: bar, then sizes."""
    if total <= 0:
        return f"{human_size(current, 4):>8}"
    filled = min(int(current / total * 100) // 2, _BAR_WIDTH)
    bar = f"[{'=' * filled}>{' ' * (_BAR_WIDTH - filled)}] "
    numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}" if current <= total else ""
    return bar + numbers


def short_id(digest: object) -> str:
    """The 12 hex characters docker shows for a layer."""
    text = str(digest)
    return text.split(":", 1)[-1][:12]


class Throttle:
    """Byte progress of one item, reported at most every 100 ms (thread-safe)."""

    def __init__(self, report: Report, status: str, item: str, total: int):
        self._report = report
        self._status = status
        self._item = item
        self._total = total
        self._current = 0
        self._last = 0.0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self._current += count
            now = time.monotonic()
            if now - self._last < _INTERVAL and self._current < self._total:
                return
            self._last = now
            current = self._current
        self._report(Progress(self._status, self._item, current, self._total))


__all__ = ["Progress", "Report", "Throttle", "progress_bar", "short_id"]
