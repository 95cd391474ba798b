"""Attach requests that arrive before their container runs.

docker's clients attach first and start second (``docker run``, ``start
-a``), so an attach to a container that is not running waits here until its
next start connects it to the new shim, before the process is let go, so
that not a byte of output is missed.  A failed start fails the waiting
attaches; a removal drops them.
"""

from __future__ import annotations

import asyncio

from .. import errors
from ..shim.client import ShimClient


class PendingAttaches:
    def __init__(self) -> None:
        self._pending: dict[str, list[tuple[asyncio.Future, bool, bool, bool]]] = {}

    def add(self, cid: str, stdin: bool, stdout: bool, stderr: bool) -> asyncio.Future:
        """A future resolved with the shim's attach stream (reader, writer)."""
        fut = asyncio.get_running_loop().create_future()
        self._pending.setdefault(cid, []).append((fut, stdin, stdout, stderr))
        return fut

    async def connect(self, cid: str, shim: ShimClient) -> None:
        """At start, before the process runs: hand every waiter its stream."""
        for fut, stdin, stdout, stderr in self._pending.pop(cid, []):
            if fut.done():
                continue
            try:
                fut.set_result(await shim.attach(stdin, stdout, stderr))
            except errors.DockyardError as e:
                fut.set_exception(e)

    def fail(self, cid: str, error: errors.DockyardError) -> None:
        for fut, *_ in self._pending.pop(cid, []):
            if not fut.done():
                fut.set_exception(error)

    def drop(self, cid: str) -> None:
        self.fail(cid, errors.NotFound(f"No such container: {cid}"))
