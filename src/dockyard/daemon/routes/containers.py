"""/containers/…: parse the request, call the container service, serialize."""

from __future__ import annotations

import asyncio
import json

from ... import errors
from ...services import container_views as views
from ...services.container_io import parse_detach_keys, pump_attach, read_logs
from ...services.container_resources import ContainerResources
from ...services.containers import ContainerService
from ...units import parse_timestamp
from ..filters import parse_filters
from ..http import HijackResponse, Request, Router, StreamResponse, empty, json_response


def register(router: Router, containers: ContainerService, resources: ContainerResources, image_ids_for,
             describe_mounts) -> None:
    async def create(req: Request):
        body = await req.json()
        if body is None:
            raise errors.InvalidArgument("Config cannot be empty in order to create a container")
        if not isinstance(body, dict):
            raise errors.InvalidArgument("invalid JSON: expected an object")
        c = containers.create(req.q("name"), body)
        return json_response({"Id": c.id, "Warnings": []}, 201)

    async def list_(req: Request):
        filters = parse_filters(req.q("filters"))
        chosen = views.select(
            containers.all(), filters, req.q_bool("all"), req.q_int("limit"),
            containers.get, image_ids_for,
        )
        entries = [views.list_entry(c, describe_mounts(c)) for c in chosen]
        if req.q_bool("size"):
            await asyncio.to_thread(_add_sizes, containers, chosen, entries)
        return json_response(entries)

    async def inspect(req: Request):
        c = containers.get(req.params["id"])
        return json_response(views.inspect(c, containers.paths(c), mounts_api=describe_mounts(c)))

    async def start(req: Request):
        await containers.start(req.params["id"])
        return empty()

    async def stop(req: Request):
        await containers.stop(req.params["id"], req.q_int("t"), req.q("signal"))
        return empty()

    async def restart(req: Request):
        await containers.restart(req.params["id"], req.q_int("t"), req.q("signal"))
        return empty()

    async def kill(req: Request):
        await containers.kill(req.params["id"], req.q("signal"))
        return empty()

    async def wait(req: Request):
        # Clients wait *before* they start a container and block until the
        # response head arrives (moby flushes it at once), so the head goes
        # out now and the body when the condition is met.
        result = containers.wait(req.params["id"], req.q("condition") or "not-running")
        first = asyncio.ensure_future(result)
        await asyncio.sleep(0)
        if first.done():
            return json_response(first.result())

        async def body():
            try:
                yield json.dumps(await first).encode() + b"\n"
            finally:
                first.cancel()

        return StreamResponse(body())

    async def remove(req: Request):
        await containers.remove(req.params["id"], req.q_bool("force"), req.q_bool("v"))
        return empty()

    async def rename(req: Request):
        name = req.q("name")
        if not name:
            raise errors.InvalidArgument("Neither old nor new names may be empty")
        containers.rename(req.params["id"], name)
        return empty()

    async def resize(req: Request):
        await containers.resize(req.params["id"], req.q_int("h", 0), req.q_int("w", 0))
        return empty(200)

    async def prune(req: Request):
        filters = parse_filters(req.q("filters"))
        for key in filters:
            if key not in ("until", "label", "label!"):
                raise errors.InvalidArgument(f"invalid filter '{key}'")
        until = None
        if filters.get("until"):
            until = min(_point_in_time(v) for v in filters["until"])
        labels = filters.get("label", []) + [v.replace("=", "!=", 1) if "=" in v else v + "!=" for v in filters.get("label!", [])]
        return json_response(await containers.prune(until=until, labels=labels))

    async def logs(req: Request):
        c = containers.get(req.params["id"])
        stdout, stderr = req.q_bool("stdout"), req.q_bool("stderr")
        if not (stdout or stderr):
            raise errors.InvalidArgument("Bad parameters: you must choose at least one stream")
        tail = req.q("tail", "all")
        tty = bool(c.config.get("Tty"))
        chunks = read_logs(
            containers.paths(c).log,
            tty=tty,
            stdout=stdout,
            stderr=stderr,
            follow=req.q_bool("follow"),
            since=parse_timestamp(req.q("since") or "0"),
            until=parse_timestamp(req.q("until") or "0"),
            timestamps=req.q_bool("timestamps"),
            tail=None if tail in ("all", "", None) else _int(tail, "tail"),
            is_running=lambda: containers.is_running(c),
        )
        content_type = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
        return StreamResponse(chunks, content_type)

    async def attach(req: Request):
        c = containers.get(req.params["id"])
        stdin, stdout, stderr = req.q_bool("stdin"), req.q_bool("stdout"), req.q_bool("stderr")
        tty = bool(c.config.get("Tty"))
        keys = parse_detach_keys(req.q("detachKeys"))
        conn_future = containers.attach_stream(c, stdin, stdout, stderr)

        async def run(reader, writer):
            if req.q_bool("logs"):
                async for chunk in read_logs(containers.paths(c).log, tty=tty, stdout=stdout, stderr=stderr):
                    writer.write(chunk)
            if not req.q_bool("stream"):
                conn_future.cancel()
                return
            try:
                shim_reader, shim_writer = await conn_future
            except (errors.DockyardError, asyncio.CancelledError):
                return
            await pump_attach(shim_reader, shim_writer, reader, writer, tty=tty, stdin=stdin, detach_keys=keys)

        content_type = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
        return HijackResponse(run, content_type)

    async def pause(req: Request):
        await resources.pause(req.params["id"])
        return empty()

    async def unpause(req: Request):
        await resources.unpause(req.params["id"])
        return empty()

    async def top(req: Request):
        return json_response(await resources.top(req.params["id"], req.q("ps_args")))

    async def update(req: Request):
        return json_response(await resources.update(req.params["id"], await req.json(required=True)))

    async def stats(req: Request):
        chunks = resources.stats(req.params["id"], req.q_bool("stream", True), req.q_bool("one-shot"))
        if not req.q_bool("stream", True):
            return json_response(json.loads(b"".join([c async for c in chunks])))
        return StreamResponse(chunks)

    router.add("POST", "/containers/{id}/pause", pause)
    router.add("POST", "/containers/{id}/unpause", unpause)
    router.add("GET", "/containers/{id}/top", top)
    router.add("POST", "/containers/{id}/update", update)
    router.add("GET", "/containers/{id}/stats", stats)
    router.add("POST", "/containers/create", create)
    router.add("GET", "/containers/json", list_)
    router.add("POST", "/containers/prune", prune)
    router.add("GET", "/containers/{id}/json", inspect)
    router.add("POST", "/containers/{id}/start", start)
    router.add("POST", "/containers/{id}/stop", stop)
    router.add("POST", "/containers/{id}/restart", restart)
    router.add("POST", "/containers/{id}/kill", kill)
    router.add("POST", "/containers/{id}/wait", wait)
    router.add("POST", "/containers/{id}/rename", rename)
    router.add("POST", "/containers/{id}/resize", resize)
    router.add("POST", "/containers/{id}/attach", attach)
    router.add("GET", "/containers/{id}/logs", logs)
    router.add("DELETE", "/containers/{id}", remove)


def _add_sizes(containers: ContainerService, chosen: list, entries: list[dict]) -> None:
    """`ps -s`: each container's writable layer, and that plus its image."""
    for c, entry in zip(chosen, entries):
        try:
            entry["SizeRw"] = containers.images.rootfs_usage(c.id)
        except Exception:  # noqa: BLE001 - a rootfs we cannot measure counts as empty
            entry["SizeRw"] = 0
        entry["SizeRootFs"] = entry["SizeRw"] + containers.images.image_size(c.image_id)


def _point_in_time(value: str) -> float:
    """docker's `until`: a unix time, an RFC 3339 date, or a duration ago (10m, 24h)."""
    import re
    import time

    from ...units import parse_rfc3339

    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value)
    if m:
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return time.time() - float(m.group(1)) * scale
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        return parse_rfc3339(value if "T" in value else value + "T00:00:00Z")
    except ValueError:
        raise errors.InvalidArgument(f"invalid filter 'until={value}'") from None


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.InvalidArgument(f"invalid value for {name}: {value!r}") from None
