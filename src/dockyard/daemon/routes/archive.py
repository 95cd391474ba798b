"""Container files: /containers/{id}/archive (cp), /export, /changes, and /commit."""

from __future__ import annotations

import asyncio
import tempfile

from ... import errors
from ...archive.stat import STAT_HEADER
from ...services.container_files_api import ContainerFiles
from ..http import Request, Response, Router, StreamResponse, json_response


def register(router: Router, files: ContainerFiles, tmp_dir: str) -> None:
    def path_of(req: Request) -> str:
        path = req.q("path")
        if not path:
            raise errors.InvalidArgument("path: required query parameter is empty")
        return path

    async def head_archive(req: Request):
        header = await asyncio.to_thread(files.stat, req.params["id"], path_of(req))
        return Response(200, b"", content_type="application/json", headers=[(STAT_HEADER, header)])

    async def get_archive(req: Request):
        if req.method == "HEAD":
            return await head_archive(req)
        header, data = await asyncio.to_thread(files.get_archive, req.params["id"], path_of(req))
        return Response(200, data, content_type="application/x-tar", headers=[(STAT_HEADER, header)])

    async def put_archive(req: Request):
        path = path_of(req)
        spool = tempfile.TemporaryFile(dir=tmp_dir)
        with spool:
            async for chunk in req.stream():
                spool.write(chunk)
            spool.seek(0)
            await asyncio.to_thread(files.put_archive, req.params["id"], path, spool,
                                    req.q_bool("noOverwriteDirNonDir"), req.q_bool("copyUIDGID"))
        return Response(200, b"", content_type="")

    async def export(req: Request):
        chunks = await asyncio.to_thread(files.export, req.params["id"])

        async def stream():
            iterator = iter(chunks)
            while True:
                chunk = await asyncio.to_thread(next, iterator, None)
                if chunk is None:
                    return
                yield chunk

        return StreamResponse(stream(), content_type="application/x-tar")

    async def changes(req: Request):
        return json_response(await asyncio.to_thread(files.changes, req.params["id"]))

    async def commit(req: Request):
        container = req.q("container")
        if not container:
            raise errors.InvalidArgument("No container specified")
        body = await req.json()
        image_id = await asyncio.to_thread(
            files.commit, container, req.q("repo") or "", req.q("tag") or "", req.q("comment") or "",
            req.q("author") or "", req.q_list("changes"), body if isinstance(body, dict) else None,
        )
        c = files.containers.get(container)
        files.containers.event(c, "commit", comment=req.q("comment") or "")
        return json_response({"Id": image_id}, 201)

    router.add("GET", "/containers/{id}/archive", get_archive)
    router.add("PUT", "/containers/{id}/archive", put_archive)
    router.add("GET", "/containers/{id}/export", export)
    router.add("GET", "/containers/{id}/changes", changes)
    router.add("POST", "/commit", commit)
