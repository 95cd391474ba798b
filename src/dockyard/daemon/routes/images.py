"""/images/…: parse the request, call the image service, serialize."""

from __future__ import annotations

import asyncio
import os
import tempfile

from ... import errors
from ...images.archive import ImageArchive
from ...images.reference import parse_reference
from ...paths import DataRoot
from ...services.events import EventBus
from ...services.images import ImageService, progress_line
from ..filters import parse_filters
from ..http import Handler, Request, Router, StreamResponse, empty, json_response
from . import image_archives


def register(router: Router, images: ImageService, events: EventBus, root: DataRoot, pull: Handler | None = None) -> None:
    async def list_(req: Request):
        filters = parse_filters(req.q("filters"))
        return json_response(await asyncio.to_thread(images.list, req.q_bool("all"), filters))

    async def inspect(req: Request):
        return json_response(images.inspect(req.params["name"]))

    async def history(req: Request):
        return json_response(images.history(req.params["name"]))

    async def tag(req: Request):
        repo = req.q("repo") or ""
        if not repo:
            raise errors.InvalidArgument("repository name must have at least one component")
        images.tag(req.params["name"], repo, req.q("tag") or "")
        target = f"{repo}:{req.q('tag')}" if req.q("tag") else repo
        events.publish("image", "tag", images.store.resolve(target), {"name": parse_reference(target).familiar()})
        return empty(201)

    async def delete(req: Request):
        records = await asyncio.to_thread(images.delete, req.params["name"], req.q_bool("force"), req.q_bool("noprune"))
        for r in records:
            if "Untagged" in r:
                events.publish("image", "untag", r["Untagged"], {"name": r["Untagged"]})
            if "Deleted" in r:
                events.publish("image", "delete", r["Deleted"], {"name": r["Deleted"]})
        return json_response(records)

    async def prune(req: Request):
        return json_response(await asyncio.to_thread(images.prune, parse_filters(req.q("filters"))))

    async def create(req: Request):
        """POST /images/create: import from the request body (fromSrc=-) or pull."""
        src = req.q("fromSrc")
        if src is None and pull is not None:
            return await pull(req)  # routes/distribution.py
        if src is None:
            image = req.q("fromImage") or ""
            tag = req.q("tag") or ""
            name = f"{image}:{tag}" if tag and "@" not in image else image
            await req.drain()
            try:
                name = parse_reference(name).familiar()
            except errors.InvalidArgument:
                pass
            raise errors.NotFound(
                f"pull access denied for {image}: dockyard has no registry client yet, "
                f"and image {name} is not present locally (make it with contrib/mkimage.sh or docker import)"
            )
        if src != "-":
            await req.drain()
            raise errors.InvalidArgument("importing from a URL is not supported yet: send the tarball as the request body (fromSrc=-)")
        os.makedirs(root.tmp, exist_ok=True)
        spool = tempfile.TemporaryFile(dir=root.tmp)
        async for chunk in req.stream():
            spool.write(chunk)
        spool.seek(0)
        changes = req.q_list("changes")
        repo, tag = req.q("repo") or "", req.q("tag") or ""

        def work() -> list[dict]:
            with spool:
                return list(images.import_image(spool, repo, tag, changes, req.q("message") or "", req.q("platform") or ""))

        async def stream():
            try:
                messages = await asyncio.to_thread(work)
            except errors.DockyardError as e:
                yield progress_line({"errorDetail": {"message": e.message}, "error": e.message})
                return
            for m in messages:
                yield progress_line(m)
            image_id = messages[-1]["status"] if messages else ""
            events.publish("image", "import", image_id, {"name": image_id})

        return StreamResponse(stream())

    router.add("GET", "/images/json", list_)
    router.add("POST", "/images/create", create)
    router.add("POST", "/images/prune", prune)
    router.add("GET", "/images/{name:.+}/json", inspect)
    router.add("GET", "/images/{name:.+}/history", history)
    router.add("POST", "/images/{name:.+}/tag", tag)
    router.add("DELETE", "/images/{name:.+}", delete)
    # docker save and docker load: handlers in image_archives.py
    image_archives.register(router, ImageArchive(images.store, root.tmp), events)

