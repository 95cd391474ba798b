"""A container's output as the Engine API streams it: logs and attach.

Both speak docker's stream format: with a TTY the raw bytes; without one,
frames of an 8-byte header (stream, three zero bytes, big-endian length)
and the data.  The shim already frames its output that way
(shim/protocol.py), so attach forwards frames and strips the header only for
TTY containers.

Logs come from the json-file the shim writes: one JSON object per line with
``log``, ``stream`` and ``time``.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import AsyncIterator, Callable

from ..shim import protocol
from ..shim.logfile import log_files
from ..units import parse_rfc3339

_STREAMS = {"stdout": protocol.STDOUT, "stderr": protocol.STDERR}


def _encode(entry: dict, tty: bool, timestamps: bool) -> bytes:
    data = entry["log"].encode()
    if timestamps:
        data = entry["time"].encode() + b" " + data
    if tty:
        return data
    return protocol.frame(_STREAMS.get(entry.get("stream", "stdout"), protocol.STDOUT), data)


def _parse(line: bytes) -> dict | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


async def read_logs(
    path: str,
    *,
    tty: bool,
    stdout: bool = True,
    stderr: bool = True,
    follow: bool = False,
    since: float = 0.0,
    until: float = 0.0,
    timestamps: bool = False,
    tail: int | None = None,
    is_running: Callable[[], bool] = lambda: False,
) -> AsyncIterator[bytes]:
    wanted = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}

    def keep(entry: dict | None) -> bool:
        if entry is None or entry.get("stream") not in wanted:
            return False
        if since or until:
            t = parse_rfc3339(entry.get("time", ""))
            if since and t < since:
                return False
            if until and t > until:
                return False
        return True

    files = log_files(path)
    existing = b""
    for older in files[:-1]:
        try:
            with open(older, "rb") as old:
                existing += old.read()
        except FileNotFoundError:
            pass  # rotated away while we read: it was the oldest
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    try:
        existing += f.read()
        complete, _, partial = existing.rpartition(b"\n")
        entries = [e for e in (_parse(line) for line in complete.split(b"\n") if line) if keep(e)]
        if tail is not None and tail >= 0:
            entries = entries[-tail:] if tail else []
        for e in entries:
            yield _encode(e, tty, timestamps)
        if not follow:
            return
        buf = partial
        while True:
            chunk = f.read()
            if chunk:
                buf += chunk
                complete, _, buf = buf.rpartition(b"\n")
                for line in complete.split(b"\n"):
                    e = _parse(line) if line else None
                    if keep(e):
                        if until and parse_rfc3339(e["time"]) > until:
                            return
                        yield _encode(e, tty, timestamps)
                continue
            if _rotated(f, path):
                # the shim started a new file; what is left of the old one was read above
                f.close()
                f = open(path, "rb")
                continue
            if not is_running():
                # The shim writes every line before it records the exit.
                rest = f.read()
                if not rest:
                    return
                buf += rest
                continue
            await asyncio.sleep(0.05)
    finally:
        f.close()


def _rotated(f, path: str) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return False


async def pump_attach(
    shim_reader: asyncio.StreamReader,
    shim_writer: asyncio.StreamWriter,
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    *,
    tty: bool,
    stdin: bool,
) -> None:
    """Copy frames shim → client and stdin client → shim until the output ends."""

    async def output() -> None:
        while True:
            try:
                header = await shim_reader.readexactly(protocol.HEADER.size)
                stream, size = protocol.HEADER.unpack(header)
                data = await shim_reader.readexactly(size)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            client_writer.write(data if tty else header + data)
            try:
                await client_writer.drain()
            except ConnectionError:
                return

    async def input_() -> None:
        try:
            while True:
                data = await client_reader.read(65536)
                if not data:
                    break
                shim_writer.write(data)
                await shim_writer.drain()
            if shim_writer.can_write_eof():
                shim_writer.write_eof()
        except (ConnectionError, OSError):
            pass

    in_task = asyncio.create_task(input_()) if stdin else None
    try:
        await output()
    finally:
        if in_task is not None:
            in_task.cancel()
        shim_writer.close()
        try:
            client_writer.close()
        except RuntimeError:
            pass
