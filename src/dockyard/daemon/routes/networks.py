"""/networks: list, inspect, create, remove, prune, connect, disconnect."""

from __future__ import annotations

import asyncio

from ...services.containers import ContainerService
from ...services.networks import NetworkService
from ..filters import parse_filters
from ..http import Request, Router, empty, json_response


def register(router: Router, networks: NetworkService, containers: ContainerService) -> None:
    async def list_(req: Request):
        return json_response(await asyncio.to_thread(networks.list, parse_filters(req.q("filters"))))

    async def inspect(req: Request):
        return json_response(await asyncio.to_thread(networks.inspect, req.params["id"]))

    async def create(req: Request):
        body = await req.json(required=True)
        return json_response(await asyncio.to_thread(networks.create, body), status=201)

    async def remove(req: Request):
        await asyncio.to_thread(networks.remove, req.params["id"])
        return empty(204)

    async def prune(req: Request):
        return json_response(await asyncio.to_thread(networks.prune, parse_filters(req.q("filters"))))

    async def connect(req: Request):
        body = await req.json(required=True)
        c = containers.get(body.get("Container") or "")
        await networks.connect(req.params["id"], c, body.get("EndpointConfig"))
        return empty(200)

    async def disconnect(req: Request):
        body = await req.json(required=True)
        c = containers.get(body.get("Container") or "")
        await networks.disconnect(req.params["id"], c, bool(body.get("Force")))
        return empty(200)

    router.add("GET", "/networks", list_)
    router.add("GET", "/networks/", list_)
    router.add("POST", "/networks/create", create)
    router.add("POST", "/networks/prune", prune)
    router.add("GET", "/networks/{id}", inspect)
    router.add("DELETE", "/networks/{id}", remove)
    router.add("POST", "/networks/{id}/connect", connect)
    router.add("POST", "/networks/{id}/disconnect", disconnect)
