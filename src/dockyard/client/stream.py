"""Decoding of the byte streams the Engine API sends on long-lived responses.

Multiplexed stream (attach and logs of a container without a TTY): a
sequence of frames, each an 8-byte header followed by a payload::

    +--------+--------+--------+--------+--------+--------+--------+--------+
    | stream |   0    |   0    |   0    |   payload length, uint32, BE      |
    +--------+--------+--------+--------+--------+--------+--------+--------+

where stream is 0 (stdin), 1 (stdout) or 2 (stderr).  Containers with a TTY
send raw bytes instead, with no framing at all.

Frames arrive cut at arbitrary byte boundaries, so ``Demultiplexer`` is fed
chunks and yields whole-or-partial payloads as soon as they are known; it
never waits for a complete frame before passing bytes on, which keeps
interactive output responsive.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Iterator

STDIN, STDOUT, STDERR = 0, 1, 2
HEADER_SIZE = 8


def frame(stream: int, payload: bytes) -> bytes:
    """Encode one frame; the inverse of what ``Demultiplexer`` reads."""
    return bytes((stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


class Demultiplexer:
    """Incremental decoder of the multiplexed stream format.

    ``feed(chunk)`` returns a list of ``(stream, bytes)`` pieces in order.
    A payload longer than the chunk is delivered in several pieces with the
    same stream number.  ``pending`` is true while a header or payload is
    incomplete (useful to detect a truncated stream at EOF).
    """

    __slots__ = ("_header", "_stream", "_remaining")

    def __init__(self) -> None:
        self._header = b""
        self._stream = STDOUT
        self._remaining = 0

    @property
    def pending(self) -> bool:
        return bool(self._header) or self._remaining > 0

    def feed(self, chunk: bytes) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        view = memoryview(chunk)
        pos = 0
        end = len(chunk)
        while pos < end:
            if self._remaining == 0:
                need = HEADER_SIZE - len(self._header)
                self._header += bytes(view[pos:pos + need])
                pos += need
                if len(self._header) < HEADER_SIZE:
                    break
                self._stream = self._header[0]
                self._remaining = int.from_bytes(self._header[4:8], "big")
                self._header = b""
                continue
            take = min(self._remaining, end - pos)
            out.append((self._stream, bytes(view[pos:pos + take])))
            pos += take
            self._remaining -= take
        return out


def demultiplex(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Decode a whole multiplexed stream given as an iterable of chunks."""
    decoder = Demultiplexer()
    for chunk in chunks:
        yield from decoder.feed(chunk)


def json_lines(lines: Iterable[bytes]) -> Iterator[dict]:
    """Decode line-delimited JSON (events, progress), skipping blank lines.

    Some servers put several objects on one line with no separator
    (docker's own progress stream did, historically); ``raw_decode`` copes.
    """
    decoder = json.JSONDecoder()
    for line in lines:
        text = line.decode("utf-8", "replace").strip()
        while text:
            obj, end = decoder.raw_decode(text)
            yield obj
            text = text[end:].lstrip()
