"""The local terminal during attach: raw mode, window size, and the I/O pump.

``pump`` copies stdin → the hijacked socket and the socket → stdout/stderr
in one thread with ``select`` (no threads, no asyncio to import):

* stdin EOF half-closes the socket's write side, so the container sees EOF
  on its stdin while its output keeps flowing back;
* the socket's EOF ends the pump (the container's output is finished);
* with a TTY the bytes are raw, without one they are docker's multiplexed
  frames, split back onto our stdout and stderr;
* the detach sequence (default ctrl-p ctrl-q) typed on stdin ends the pump
  without stopping the container; bytes that merely start the sequence are
  held back until the next byte shows they are not it.
"""

from __future__ import annotations

import os
import select
import sys

from dockyard.client.stream import STDERR, Demultiplexer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
DETACHED, ENDED = "detached", "ended"


def parse_detach_keys(spec: str) -> bytes:
    """``ctrl-p,ctrl-q`` → b"\\x10\\x11" (docker's term.ToBytes)."""
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if len(key) == 1:
            out.append(ord(key))
            continue
        if not key.lower().startswith("ctrl-") or len(key) != 6:
            raise ValueError(f"Invalid detach keys ({spec}) provided")
        char = key[5].lower()
        if "a" <= char <= "z":
            out.append(ord(char) - ord("a") + 1)
        elif char in "@[\\]^_":
            out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[char])
        else:
            raise ValueError(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


class RawMode:
    """Context manager putting a terminal in raw mode and always restoring it."""

    def __init__(self, fd: int):
        self.fd = fd
        self._saved: Any = None

    def __enter__(self) -> "RawMode":
        import termios
        import tty

        try:
            self._saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        except termios.error:
            self._saved = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)


def window_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd``, or None if it is not one."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


class _DetachWatcher:
    """Finds the detach sequence in stdin data; passes everything else on."""

    def __init__(self, keys: bytes):
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Return (bytes to forward, whether the sequence was typed)."""
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes((byte,))
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    self.held = b""
                    return bytes(out), True
                self.held = candidate
            else:
                out += candidate
                self.held = b""
        return bytes(out), False


def pump(sock: Any, buffered: bytes, *, stdin: int | None, tty: bool,
         stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
         detach_keys: bytes = b"", close_write: Any = None) -> str:
    """Run the copy loop until the output ends (``ENDED``) or detach (``DETACHED``)."""
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr.buffer
    demux = None if tty else Demultiplexer()
    watcher = _DetachWatcher(detach_keys)

    def emit(data: bytes) -> None:
        if demux is None:
            out.write(data)
            out.flush()
            return
        for stream, payload in demux.feed(data):
            target = err if stream == STDERR else out
            target.write(payload)
            target.flush()

    if buffered:
        emit(buffered)
    sock_fd = sock.fileno()
    watching_stdin = stdin is not None
    while True:
        fds = [sock_fd] + ([stdin] if watching_stdin else [])
        readable, _, _ = select.select(fds, [], [])
        if sock_fd in readable:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return ENDED
            emit(data)
        if watching_stdin and stdin in readable:
            try:
                data = os.read(stdin, 65536)  # type: ignore[arg-type]
            except OSError:
                data = b""
            if not data:
                watching_stdin = False
                if close_write is not None:
                    close_write()
                continue
            data, detached = watcher.feed(data)
            if data:
                try:
                    sock.sendall(data)
                except (BrokenPipeError, ConnectionResetError):
                    watching_stdin = False
            if detached:
                return DETACHED
