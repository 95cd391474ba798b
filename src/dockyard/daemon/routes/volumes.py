"""/volumes/…: parse the request, call the volume service, serialize."""

from __future__ import annotations

import asyncio

from ... import errors
from ...services.volumes import VolumeService
from ..filters import parse_filters
from ..http import Request, Router, empty, json_response


def register(router: Router, volumes: VolumeService) -> None:
    async def list_(req: Request):
        found = volumes.list(parse_filters(req.q("filters")))
        return json_response({"Volumes": [v.to_api() for v in found], "Warnings": []})

    async def create(req: Request):
        body = await req.json() or {}
        if not isinstance(body, dict):
            raise errors.InvalidArgument("invalid JSON: expected an object")
        name = body.get("Name") or None
        if name is not None and not isinstance(name, str):
            raise errors.InvalidArgument("Name must be a string")
        driver = body.get("Driver") or "local"
        if not isinstance(driver, str):
            raise errors.InvalidArgument("Driver must be a string")
        volume = volumes.create(name, driver, body.get("DriverOpts"), body.get("Labels"))
        return json_response(volume.to_api(), 201)

    async def inspect(req: Request):
        return json_response(volumes.get(req.params["name"]).to_api())

    async def delete(req: Request):
        # A worker thread: deleting a large volume's files takes a while.
        await asyncio.to_thread(volumes.remove, req.params["name"], req.q_bool("force"))
        return empty(204)

    async def prune(req: Request):
        filters = parse_filters(req.q("filters"))
        # API 1.42 narrowed prune to anonymous volumes; older clients mean all.
        prune_all = not req.version_at_least("1.42")
        return json_response(await asyncio.to_thread(volumes.prune, filters, prune_all))

    router.add("GET", "/volumes", list_)
    router.add("POST", "/volumes/create", create)
    router.add("POST", "/volumes/prune", prune)
    router.add("GET", "/volumes/{name}", inspect)
    router.add("DELETE", "/volumes/{name}", delete)
