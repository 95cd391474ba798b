"""GET /images/get, GET /images/{name}/get (docker save) and POST /images/load (docker load).

Save: the names are resolved before the response starts, so an unknown one
is a 404 ("No such image: …"); then the tar streams as it is read from the
content store.  ``format=oci`` (a dockyard extension; docker has no such
parameter) leaves manifest.json and repositories out: the OCI layout alone.

Load: the body is unpacked into a spool as it arrives (a worker thread
pulls it from the connection), then the archive is checked and imported by
a worker that runs to the end even if the client leaves, so that a load is
all or nothing.  As in moby, the answer is always 200 with a JSON message
stream: ``{"stream": "Loaded image: busybox:latest\\n"}``, progress for new
layers unless ``quiet`` (which defaults to true, as in moby), and
``{"errorDetail": {"message": …}, "error": …}`` when the archive is refused.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import AsyncIterator, Iterator

from ... import errors
from ...build.context import ChunkReader
from ...images.archive import ImageArchive, ImageLoaded, LayerLoaded, LoadEvent
from ...images.archive_read import Spool
from ...images.archive_save import Layout
from ...services.events import EventBus
from ...services.images import progress_line
from ..http import Request, Router, StreamResponse

log = logging.getLogger("dockyard.images")

# Load workers outlive their response when the client leaves; held here so
# that nothing collects them half way.
_workers: set[asyncio.Future] = set()


def register(router: Router, archives: ImageArchive, events: EventBus) -> None:
    async def get(req: Request):
        names = [req.params["name"]] if "name" in req.params else req.q_list("names")
        layout = Layout.parse(req.q("format"))
        images = await asyncio.to_thread(archives.select, names)
        stream = await asyncio.to_thread(archives.save, images, layout)
        for image in images:
            events.publish("image", "save", str(image.image_id), {"name": str(image.image_id)})

        async def body():
            try:
                while (chunk := await asyncio.to_thread(next, stream, None)) is not None:
                    yield chunk
            finally:
                stream.close()

        return StreamResponse(body(), content_type="application/x-tar")

    async def load(req: Request):
        quiet = req.q_bool("quiet", True)
        loop = asyncio.get_running_loop()
        body = io.BufferedReader(ChunkReader(_blocking(req.stream(), loop)), 1 << 16)
        try:
            spool = await asyncio.to_thread(archives.receive, body)
        except errors.DockyardError as exc:
            return StreamResponse(_one(_error_message(exc)))
        queue: asyncio.Queue = asyncio.Queue()
        worker = asyncio.ensure_future(asyncio.to_thread(_load_all, archives, spool, loop, queue))
        _workers.add(worker)
        worker.add_done_callback(_workers.discard)

        async def messages():
            while (item := await queue.get()) is not None:
                if isinstance(item, errors.DockyardError):
                    yield progress_line(_error_message(item))
                    continue
                if isinstance(item, ImageLoaded):
                    events.publish("image", "load", item.image_id, {"name": item.image_id})
                for message in _messages(item, quiet):
                    yield progress_line(message)

        return StreamResponse(messages())

    router.add("GET", "/images/get", get)
    router.add("GET", "/images/{name:.+}/get", get)
    router.add("POST", "/images/load", load)


def _load_all(archives: ImageArchive, spool: Spool, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
    """Run a whole load in a worker thread; events, then an error if any, then None, go to `queue`."""
    def put(item: object) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    try:
        with spool:
            for event in archives.load(spool):
                put(event)
    except errors.DockyardError as exc:
        put(exc)
    except Exception as exc:  # noqa: BLE001 - a bug must reach the client as an error, not a hang
        log.exception("loading an image archive failed")
        put(errors.SystemError(f"{type(exc).__name__}: {exc}"))
    finally:
        put(None)


def _messages(event: LoadEvent, quiet: bool) -> list[dict]:
    """An event as docker's JSON messages."""
    if isinstance(event, LayerLoaded):
        if quiet:
            return []
        return [{"status": "Loading layer", "id": event.diff_id.short,
                 "progressDetail": {"current": event.size, "total": event.size}}]
    out = [{"stream": f"The image {tag.familiar()} already exists, renaming the old one with ID {old} "
                      "to empty string\n"} for tag, old in event.replaced]
    out += [{"stream": f"Loaded image: {tag.familiar()}\n"} for tag in event.tags]
    if not event.tags:
        out.append({"stream": f"Loaded image ID: {event.image_id}\n"})
    return out


def _error_message(exc: errors.DockyardError) -> dict:
    return {"errorDetail": {"message": exc.message}, "error": exc.message}


async def _one(message: dict) -> AsyncIterator[bytes]:
    yield progress_line(message)


def _blocking(chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> Iterator[bytes]:
    """The request body's chunks for a worker thread: each one is asked of
    the event loop when the thread needs it, so the body is pulled only as
    fast as it is used and the loop stays free meanwhile."""

    async def next_chunk() -> bytes | None:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None

    while (chunk := asyncio.run_coroutine_threadsafe(next_chunk(), loop).result()) is not None:
        yield chunk
