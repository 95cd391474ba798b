"""The conversation between the daemon and a container's shim.

The shim listens on ``containers/<id>/shim.sock``.  Each connection starts
with one JSON request line; the shim answers with one JSON line.  Requests:

    {"op": "start"}                 → {"ok": true, "pid": N} or
                                      {"ok": false, "message": "...", "code": 127}
    {"op": "state"}                 → {"pid": N, "status": "created|running|exited", ...}
    {"op": "kill", "signal": 15}    → {"ok": true}
    {"op": "wait"}                  → (when the process has ended)
                                      {"exit_code": N, "oom_killed": b, "finished_at": "...", "error": ""}
    {"op": "resize", "h": 24, "w": 80[, "exec": id]} → {"ok": true}
    {"op": "exec", "id": "…", "process": {OCI process}, "stdin": b}
                                    → {"ok": true, "pid": N} or {"ok": false, "message": …},
                                      then the exec's stream (see shim/exec.py)
    {"op": "attach", "stdin": b, "stdout": b, "stderr": b}
                                    → {"ok": true}, then the connection becomes a
                                      stream: shim → daemon frames (`frame`), daemon →
                                      shim raw stdin bytes; a half-close from the
                                      daemon closes the container's stdin.

A frame is one byte of stream (1 stdout, 2 stderr), four bytes of big-endian
length, then the data: the same shape as the Engine API's multiplexed stream,
so the daemon can forward it unchanged when the container has no TTY.

Once the process has ended and its output is drained, the shim writes
``exit.json`` atomically *before* it answers any waiter, so a daemon that was
not there to hear the answer finds the result on disk.
"""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR = 0, 1, 2
EXIT = 3  # the last frame of an exec stream: {"exit_code": N}
HEADER = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    return HEADER.pack(stream, len(data)) + data
