"""/containers/{id}/exec and /exec/{id}/…: parse, call the exec service, serialize."""

from __future__ import annotations

import asyncio

from ... import errors
from ...services.execs import ExecService
from ..http import HijackResponse, Request, Router, empty, json_response


def register(router: Router, execs: ExecService) -> None:
    async def create(req: Request):
        body = await req.json(required=True)
        e = execs.create(req.params["id"], body)
        return json_response({"Id": e.id}, 201)

    async def start(req: Request):
        e = execs.get(req.params["id"])
        body = await req.json() or {}
        if not isinstance(body, dict):
            raise errors.InvalidArgument("invalid JSON: expected an object")
        c = execs.check_startable(e)
        tty = bool(body.get("Tty", e.config.get("Tty")))
        size = body.get("ConsoleSize") or e.config.get("ConsoleSize")
        if body.get("Detach"):
            e.started = True
            task = asyncio.create_task(execs.run(e, c, tty, size))
            _background.add(task)
            task.add_done_callback(_background.discard)
            return empty(200)

        async def run(reader, writer):
            await execs.run(e, c, tty, size, reader, writer)

        content_type = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
        return HijackResponse(run, content_type)

    async def inspect(req: Request):
        return json_response(execs.get(req.params["id"]).to_api())

    async def resize(req: Request):
        await execs.resize(req.params["id"], req.q_int("h", 0), req.q_int("w", 0))
        return empty(200)

    router.add("POST", "/containers/{id}/exec", create)
    router.add("POST", "/exec/{id}/start", start)
    router.add("GET", "/exec/{id}/json", inspect)
    router.add("POST", "/exec/{id}/resize", resize)


# Detached execs run on after their request; keep their tasks referenced.
_background: set = set()
