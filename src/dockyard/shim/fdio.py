"""Non-blocking reads and writes of raw descriptors on the shim's event loop."""

from __future__ import annotations

import asyncio
import os


async def write_fd(fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
        except BlockingIOError:
            fut = loop.create_future()
            loop.add_writer(fd, fut.set_result, None)
            try:
                await fut
            finally:
                loop.remove_writer(fd)


async def read_to_eof(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            b = os.read(fd, 65536)
        except BlockingIOError:
            fut = loop.create_future()
            loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
            try:
                await fut
            finally:
                loop.remove_reader(fd)
            continue
        if not b:
            return b"".join(chunks)
        chunks.append(b)


async def copy_to_fd(reader: asyncio.StreamReader, fd: int) -> None:
    """Copy a client's bytes (stdin) to a descriptor until the client stops sending."""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            await write_fd(fd, data)
    except (ConnectionError, OSError):
        pass


async def readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_reader(fd)


def open_fds() -> list[int]:
    try:
        return [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))
