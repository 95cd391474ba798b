"""POST /build (the classic builder's API) and POST /build/prune.

The context arrives as the request body; everything that can be refused
without building — a body that is not a tar, a missing or unparsable
Dockerfile, an unknown target — is refused before the response starts,
as an HTTP error.  From then on the build reports through docker's JSON
message stream: ``{"stream": …}`` lines, ``{"aux": {"ID": …}}`` for the
result, ``{"errorDetail": …, "error": …}`` when a step fails.
"""

from __future__ import annotations

import asyncio
import json

from ...services.builds import BuildService
from ..filters import parse_filters
from ..http import Request, Router, StreamResponse, json_response


def register(router: Router, builds: BuildService) -> None:
    async def build(req: Request):
        prepared = await builds.prepare(req.query, req.stream(), req.headers.get("content-type", ""))

        async def stream():
            async for message in builds.run(prepared):
                yield json.dumps(message).encode() + b"\r\n"

        return StreamResponse(stream())

    async def prune(req: Request):
        filters = parse_filters(req.q("filters"))
        return json_response(await asyncio.to_thread(builds.prune, req.q_bool("all"), filters))

    router.add("POST", "/build", build)
    router.add("POST", "/build/prune", prune)
