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
from ..shim.client import copy_input, read_frame
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
            if chunk or b"\n" in buf:
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
                # the shim started a new file: finish the old one, then follow the new
                buf += f.read()
                f.close()
                f = open(path, "rb")
                continue
            if os.fstat(f.fileno()).st_size < f.tell():
                f.seek(0)  # truncated in place (max-file=1): start over at its top
                buf = b""
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


_KEY_NAMES = {"ctrl-@": 0, "ctrl-[": 27, "ctrl-\\": 28, "ctrl-]": 29, "ctrl-^": 30, "ctrl-_": 31}


def parse_detach_keys(spec: str | None) -> bytes:
    """docker's --detach-keys: "ctrl-p,ctrl-q" (the default), "ctrl-x,a", …"""
    from .. import errors

    spec = spec or "ctrl-p,ctrl-q"
    out = bytearray()
    for key in spec.split(","):
        key = key.strip().lower()
        if key in _KEY_NAMES:
            out.append(_KEY_NAMES[key])
        elif key.startswith("ctrl-") and len(key) == 6 and "a" <= key[5] <= "z":
            out.append(ord(key[5]) - ord("a") + 1)
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise errors.InvalidArgument(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


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
    detach_keys: bytes = b"",
) -> None:
    """Copy frames shim → client and stdin client → shim until the output ends.

    With a TTY, the detach sequence (`detach_keys`, docker's ctrl-p ctrl-q by
    default) in the client's input ends the attach and leaves the container
    running, as docker's daemon does.
    """
    detached = asyncio.Event()

    async def output() -> None:
        while (frame := await read_frame(shim_reader)) is not None:
            _stream, header, data = frame
            client_writer.write(data if tty else header + data)
            try:
                await client_writer.drain()
            except ConnectionError:
                return

    async def input_() -> None:
        if await copy_input(client_reader, shim_writer, detach_keys if tty else b""):
            detached.set()

    in_task = asyncio.create_task(input_()) if stdin else None
    try:
        out_task = asyncio.create_task(output())
        detach_task = asyncio.create_task(detached.wait())
        await asyncio.wait({out_task, detach_task}, return_when=asyncio.FIRST_COMPLETED)
        for task in (out_task, detach_task):
            task.cancel()
    finally:
        if in_task is not None:
            in_task.cancel()
        shim_writer.close()
        try:
            client_writer.close()
        except RuntimeError:
            pass
