"""docker's json-file log: one JSON object per line, rotated by size.

``<id>-json.log`` is the file being written; with ``max-size`` it is renamed
to ``<id>-json.log.1`` (older ones shift to .2, .3 …) once it would pass the
size, keeping ``max-file`` files in all, so a chatty container cannot fill
the disk.  Readers (the daemon's logs endpoint) read the rotated files
oldest first, then the current one.
"""

from __future__ import annotations

import json
import os

from ..units import now_rfc3339


class JsonFileLog:
    def __init__(self, path: str, max_size: int = 0, max_files: int = 1):
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self._f = open(path, "ab", buffering=0)
        self._size = self._f.tell()

    def write(self, stream: str, data: bytes) -> None:
        line = json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream, "time": now_rfc3339()},
                          ensure_ascii=False).encode() + b"\n"
        if self.max_size and self._size + len(line) > self.max_size and self._size > 0:
            self._rotate()
        self._f.write(line)
        self._size += len(line)

    def _rotate(self) -> None:
        self._f.close()
        if self.max_files > 1:
            for i in range(self.max_files - 1, 0, -1):
                src = self.path if i == 1 else f"{self.path}.{i - 1}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i}")
            self._f = open(self.path, "ab", buffering=0)
        else:
            self._f = open(self.path, "wb", buffering=0)  # one file: start it over
        self._size = 0

    def close(self) -> None:
        self._f.close()


def log_files(path: str) -> list[str]:
    """The files of a log, oldest first."""
    rotated = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        rotated.append(f"{path}.{i}")
        i += 1
    return list(reversed(rotated)) + [path]
