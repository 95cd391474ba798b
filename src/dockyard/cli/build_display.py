"""Showing a build while it runs: docker's JSON message stream, three ways.

The daemon answers ``POST /build`` with one JSON object per line::

    {"stream": "Step 2/3 : RUN make\\n"}          builder and RUN output, in pieces
    {"status": "…", "id": "…", "progress": "…"}  pulls and downloads
    {"aux": {"ID": "sha256:…"}}                  the image built
    {"errorDetail": {"code": 3, "message": "…"}, "error": "…"}   the failure

`follow` reads the stream once and hands each piece to a `Display`; it
returns the image ID, or raises `BuildFailed` with the message and the
exit code docker's CLI uses (``errorDetail.code``, 1 when absent).  The
displays:

* `PlainDisplay`: docker's classic output on a non-terminal (the stream
  text as it arrives, byte for byte; progress bars left out).
* `TtyDisplay`: the same lines made readable: step headers bold, a step's
  own output indented and dimmed, a ``DONE 1.2s`` / ``CACHED`` line closing
  each step, an unfinished line (``\\r`` progress of a download inside
  RUN) redrawn in place.
* `QuietDisplay` (``-q``): shows nothing and keeps everything, for the
  CLI to print should the build fail.

Every display also hears how much of the context has been sent
(``Sending build context to dockyard daemon  2.048kB``).
"""

from __future__ import annotations

import re
import time

from dockyard.cli import units

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Protocol, TextIO

    class Display(Protocol):
        def context_sent(self, size: int, done: bool) -> None: ...
        def stream(self, text: str) -> None: ...
        def status(self, message: dict[str, Any]) -> None: ...
        def close(self, failed: bool) -> None: ...

SENDING = "Sending build context to dockyard daemon"
_STEP = re.compile(r"Step \d+/\d+ : ")
_BUILDER_NOTES = (" ---> ", "Removing intermediate container ")


class BuildFailed(Exception):
    """The daemon reported the build's failure inside the stream."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


def follow(messages: Iterable[dict[str, Any]], display: Display) -> str:
    """Show every message; return the image ID of the ``aux`` message ("" if none)."""
    image_id = ""
    failed = True
    try:
        for message in messages:
            detail = message.get("errorDetail")
            if detail is not None or message.get("error"):
                detail = detail if isinstance(detail, dict) else {}
                text = detail.get("message") or message.get("error") or "unknown error"
                raise BuildFailed(text, int(detail.get("code") or 0) or 1)
            aux = message.get("aux")
            if aux is not None:
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
            elif message.get("stream"):
                display.stream(str(message["stream"]))
            elif message.get("status") is not None:
                display.status(message)
        failed = False
    finally:
        display.close(failed)
    return image_id


def sending_line(size: int) -> str:
    """docker's upload progress line: the action, then the size right-aligned in 8."""
    return f"{SENDING} {units.human_size(size, 4):>8}"


def status_line(message: dict[str, Any], with_progress: bool) -> str:
    text = str(message.get("status") or "")
    if message.get("id"):
        text = f"{message['id']}: {text}"
    if with_progress and message.get("progress"):
        text = f"{text} {message['progress']}"
    return text


def _has_progress(message: dict[str, Any]) -> bool:
    detail = message.get("progressDetail") or {}
    return bool(message.get("progress")) or bool(
        isinstance(detail, dict) and (detail.get("current") or detail.get("total")))


class PlainDisplay:
    """docker's non-terminal output: the text as it comes."""

    def __init__(self, out: TextIO):
        self._out = out

    def context_sent(self, size: int, done: bool) -> None:
        if done:  # docker prints only the final count when not on a terminal
            self._write(sending_line(size) + "\n")

    def stream(self, text: str) -> None:
        self._write(text)

    def status(self, message: dict[str, Any]) -> None:
        if not _has_progress(message):
            self._write(status_line(message, False) + "\n")

    def close(self, failed: bool) -> None:
        pass

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


class QuietDisplay:
    """``-q``: nothing on screen; `progress` and `output` kept for a failure report."""

    def __init__(self) -> None:
        self.progress = ""
        self.output = ""

    def context_sent(self, size: int, done: bool) -> None:
        if done:
            self.progress = sending_line(size) + "\n"

    def stream(self, text: str) -> None:
        self.output += text

    def status(self, message: dict[str, Any]) -> None:
        if not _has_progress(message):
            self.output += status_line(message, False) + "\n"

    def close(self, failed: bool) -> None:
        pass


class _Style:
    def __init__(self, color: bool):
        on = (lambda code: f"\x1b[{code}m") if color else (lambda code: "")
        self.bold, self.dim, self.green, self.yellow, self.red = (
            on("1"), on("2"), on("32"), on("33"), on("31"))
        self.reset = on("0")


class TtyDisplay:
    """A terminal's view of the classic builder's output (see the module docstring).

    Complete lines are printed once and never touched again; only the last,
    unfinished line (a partial stream line, a progress bar, the upload
    count) is "live": cleared and redrawn, cut to the terminal's width so
    that it stays on one row.
    """

    INDENT = "    "
    REDRAW_EVERY = 0.1  # seconds, for the upload count

    def __init__(self, out: TextIO, width: int = 80, color: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        self._out = out
        self._width = width if width > 0 else 80  # a pty may report 0 columns
        self._style = _Style(color)
        self._clock = clock
        self._partial = ""
        self._live = False
        self._step_started: float | None = None
        self._step_cached = False
        self._last_draw = float("-inf")

    # -- Display -------------------------------------------------------------------

    def context_sent(self, size: int, done: bool) -> None:
        if done:  # the final count is a line of its own, never cut
            self._clear_live()
            self._emit(sending_line(size))
            return
        now = self._clock()
        if now - self._last_draw >= self.REDRAW_EVERY:
            self._last_draw = now
            self._draw_live(sending_line(size))

    def stream(self, text: str) -> None:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._line(_visible(line))
        if self._partial:
            self._draw_live(self._shape(_visible(self._partial)))

    def status(self, message: dict[str, Any]) -> None:
        if _has_progress(message):
            self._draw_live(self._shape(status_line(message, True)))
        else:
            self._line(status_line(message, False))

    def close(self, failed: bool) -> None:
        if self._partial:
            self._line(_visible(self._partial))
            self._partial = ""
        self._clear_live()
        self._end_step(failed)
        self._out.flush()

    # -- lines ---------------------------------------------------------------------

    def _line(self, line: str) -> None:
        s = self._style
        self._clear_live()
        if _STEP.match(line):
            self._end_step(False)
            self._step_started, self._step_cached = self._clock(), False
            self._emit(f"{s.bold}{line}{s.reset}")
        elif line.startswith(_BUILDER_NOTES):
            self._step_cached = self._step_cached or line.startswith(" ---> Using cache")
            self._emit(f"{s.dim}{line}{s.reset}")
        elif line.startswith("Successfully "):
            self._end_step(False)
            self._emit(f"{s.green}{line}{s.reset}")
        elif line.startswith("[Warning]"):
            self._emit(f"{s.yellow}{line}{s.reset}")
        elif self._step_started is not None:
            self._emit(f"{s.dim}{self._shape(line)}{s.reset}")
        else:
            self._emit(line)

    def _shape(self, line: str) -> str:
        """A step's own output is indented under its header."""
        return self.INDENT + line if self._step_started is not None else line

    def _end_step(self, failed: bool) -> None:
        if self._step_started is None:
            return
        s = self._style
        elapsed = self._clock() - self._step_started
        if failed:
            self._emit(f"{s.red}{self.INDENT}FAILED after {elapsed:.1f}s{s.reset}")
        elif self._step_cached:
            self._emit(f"{s.dim}{self.INDENT}CACHED{s.reset}")
        else:
            self._emit(f"{s.dim}{self.INDENT}DONE {elapsed:.1f}s{s.reset}")
        self._step_started = None

    # -- the terminal ----------------------------------------------------------------

    def _emit(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def _draw_live(self, text: str) -> None:
        self._out.write("\r\x1b[2K" + text[: self._width - 1])
        self._out.flush()
        self._live = True

    def _clear_live(self) -> None:
        if self._live:
            self._out.write("\r\x1b[2K")
            self._live = False



def _visible(line: str) -> str:
    """What a terminal would show of a line rewritten with carriage returns."""
    line = line.rstrip("\r")
    return line[line.rfind("\r") + 1:]
