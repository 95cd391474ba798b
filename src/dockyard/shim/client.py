"""The daemon's side of the shim protocol (see protocol.py), on asyncio."""

from __future__ import annotations

import asyncio
import json
import os
import socket

from ..errors import InvalidArgument, SystemError, Unavailable
from . import protocol
from .address import short_path
from .forkserver import ForkServer


class ShimClient:
    """Talks to one container's shim through its socket."""

    def __init__(self, socket_path: str):
        self.socket_path = socket_path

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            with short_path(self.socket_path) as path:
                return await asyncio.open_unix_connection(path, limit=1 << 20)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise Unavailable(f"shim is not running: {e.strerror}") from None

    async def request(self, op: str, **args) -> dict:
        reader, writer = await self._open()
        try:
            writer.write(json.dumps({"op": op, **args}).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
        if not line:
            raise Unavailable("shim closed the connection")
        return json.loads(line)

    async def attach(self, stdin: bool, stdout: bool, stderr: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open an attach stream: read frames from the reader, write stdin to the writer."""
        reader, writer = await self._open()
        writer.write(json.dumps({"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr}).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
        if not line:
            writer.close()
            raise Unavailable("shim closed the connection")
        return reader, writer


    async def exec(self, exec_id: str, process: dict, stdin: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Start a process in the container; its stream follows (see shim/exec.py).

        Raises InvalidArgument with the runtime's message when it cannot start."""
        reader, writer = await self._open()
        writer.write(json.dumps({"op": "exec", "id": exec_id, "process": process, "stdin": stdin}).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
        if not line:
            writer.close()
            raise Unavailable("shim closed the connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            writer.close()
            raise InvalidArgument(reply.get("message", "exec failed"))
        return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes] | None:
    """The next (stream, header, data) frame of an attach or exec stream; None at its end."""
    try:
        header = await reader.readexactly(protocol.HEADER.size)
        stream, size = protocol.HEADER.unpack(header)
        return stream, header, await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


async def copy_input(client: asyncio.StreamReader, shim_writer: asyncio.StreamWriter, detach_keys: bytes = b"") -> bool:
    """Copy a client's stdin to a shim stream, half-closing it at the client's EOF.

    With `detach_keys`, stop before the sequence and return True (the client
    detached); the bytes of a possible start of the sequence are held back
    until the next read tells.
    """
    held = b""
    try:
        while True:
            data = await client.read(65536)
            if not data:
                break
            if detach_keys:
                data = held + data
                if detach_keys in data:
                    shim_writer.write(data[: data.index(detach_keys)])
                    return True
                keep = next((n for n in range(len(detach_keys) - 1, 0, -1) if data.endswith(detach_keys[:n])), 0)
                data, held = (data[:-keep], data[-keep:]) if keep else (data, b"")
            shim_writer.write(data)
            await shim_writer.drain()
        if shim_writer.can_write_eof():
            shim_writer.write_eof()
    except (ConnectionError, OSError):
        pass
    return False


async def spawn_shim(forkserver: ForkServer, lock: asyncio.Lock, config: dict) -> int:
    """Fork a shim for `config` (a ShimConfig as JSON) and wait until it is ready.

    Returns the shim's pid.  The shim is ready when it has set up the rootfs
    and stdio, forked the (still waiting) container process, and listens.
    """
    ours, theirs = socket.socketpair()
    try:
        async with lock:
            # A fork of the small fork-server process: a few milliseconds, not
            # worth a thread.
            forkserver.spawn(config, theirs)
        theirs.close()
        ours.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        line = await reader.readline()
        writer.close()
    finally:
        if theirs.fileno() >= 0:
            theirs.close()
    if not line:
        raise SystemError("shim exited during setup")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise SystemError(reply.get("message", "shim setup failed"))
    return int(reply["pid"])


def shim_alive(pid_file: str) -> int:
    """The pid of a live shim recorded in pid_file, or 0."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return 0
