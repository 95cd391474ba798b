"""Registry endpoints: pull, push, login, search, remote inspect.

    POST /images/create?fromImage=&tag=&platform=   pull (the images route's
                                                    pull branch calls `pull_handler`)
    POST /images/{name}/push?tag=                   push
    POST /auth                                      check credentials (docker login)
    GET  /images/search?term=&limit=&filters=       search a registry
    GET  /distribution/{name}/json                  descriptor and platforms

Credentials come as docker sends them: the X-Registry-Auth header (base64url
JSON) on pull, push, search and inspect; the JSON body on /auth.

Pull and push run in a worker thread and stream docker's JSON progress
messages.  As in moby, an error before the first message is an ordinary
HTTP error (the status from the one table), and one after it is the
stream's last message, ``{"errorDetail": {"message": …}, "error": …}``.
A client that goes away cancels the work.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Callable

from ... import errors
from ...distribution.auth import Credentials, Unauthorized
from ...distribution.client import Registries
from ...distribution.auth_config import DOCKER_HUB, registry_domain
from ...distribution.client_progress import Progress, Report
from ...distribution.pull import Puller, remote_platforms
from ...distribution.pull_platform import Platform
from ...distribution.push import Pusher
from ...images.reference import Reference, parse_reference
from ...services.events import EventBus
from ...services.images import progress_line
from ..filters import parse_filters
from ..http import Handler, Request, Router, StreamResponse, json_response

SEARCH_LIMIT_DEFAULT = 25
SEARCH_LIMIT_MAX = 100

Work = Callable[[Report, threading.Event], Any]


def pull_handler(puller: Puller, events: EventBus) -> Handler:
    """POST /images/create with fromImage: pull, streaming progress."""

    async def pull(req: Request):
        credentials = Credentials.from_registry_auth(req.headers.get("x-registry-auth"))
        ref = pull_reference(req.q("fromImage") or "", req.q("tag") or "")
        platform = Platform.parse(req.q("platform") or "") if req.q("platform") else None
        await req.drain()

        def done(pulled) -> None:
            for p in pulled:
                events.publish("image", "pull", p.ref.familiar(), {"name": p.ref.familiar_name()})

        return await progress_stream(lambda report, cancel: puller.pull(ref, credentials, platform, report, cancel), done)

    return pull


def register(router: Router, registries: Registries, pusher: Pusher, events: EventBus) -> None:
    async def push(req: Request):
        credentials = Credentials.from_registry_auth(req.headers.get("x-registry-auth"))
        ref = parse_reference(req.params["name"], default_tag=False)
        tag = req.q("tag") or ""
        if tag:
            ref = ref.with_tag(tag)
        await req.drain()

        def done(pushed) -> None:
            for p in pushed:
                events.publish("image", "push", p.ref.familiar(), {"name": p.ref.familiar_name()})

        return await progress_stream(lambda report, cancel: pusher.push(ref, credentials, report, cancel), done)

    async def auth(req: Request):
        credentials = Credentials.from_api(await req.json())
        client = registries.client(registry_domain(credentials.server_address), credentials)
        try:
            await asyncio.to_thread(client.login)
        except Unauthorized as exc:
            # docker answers 401 here (its CLI asks for credentials again on it).
            return json_response({"message": exc.message}, 401)
        return json_response({"Status": "Login Succeeded", "IdentityToken": ""})

    async def search(req: Request):
        term = req.q("term") or ""
        if not term:
            raise errors.InvalidArgument("term is required")
        limit = req.q_int("limit", SEARCH_LIMIT_DEFAULT) or SEARCH_LIMIT_DEFAULT
        if not 1 <= limit <= SEARCH_LIMIT_MAX:
            raise errors.InvalidArgument(f"limit {limit} is outside the range of [1, {SEARCH_LIMIT_MAX}]")
        matches = search_filter(parse_filters(req.q("filters")))
        credentials = Credentials.from_registry_auth(req.headers.get("x-registry-auth"))
        domain, query = split_search_term(term)
        client = registries.search_client(domain, credentials)
        doc = await asyncio.to_thread(client.search, query, limit)
        results = [r for r in doc.get("results") or [] if isinstance(r, dict) and matches(r)]
        return json_response([
            {
                "name": str(r.get("name") or ""),
                "description": str(r.get("description") or ""),
                "star_count": int(r.get("star_count") or 0),
                "is_official": bool(r.get("is_official")),
                "is_automated": bool(r.get("is_automated")),
            }
            for r in results[:limit]
        ])

    async def distribution_inspect(req: Request):
        credentials = Credentials.from_registry_auth(req.headers.get("x-registry-auth"))
        ref = parse_reference(req.params["name"])
        repo = registries.repository(ref, credentials)
        descriptor, platforms = await asyncio.to_thread(remote_platforms, repo, ref.digest or ref.tag or "latest")
        return json_response({
            "Descriptor": {"mediaType": descriptor.media_type, "digest": str(descriptor.digest), "size": descriptor.size},
            "Platforms": [p.to_api() for p in platforms],
        })

    router.add("POST", "/images/{name:.+}/push", push)
    router.add("POST", "/auth", auth)
    router.add("GET", "/images/search", search)
    router.add("GET", "/distribution/{name:.+}/json", distribution_inspect)


def pull_reference(image: str, tag: str) -> Reference:
    """fromImage and tag as moby combines them: the tag may be a digest; no
    tag at all (in either) means every tag."""
    if not image:
        raise errors.InvalidArgument("fromImage is required")
    ref = parse_reference(image, default_tag=False)
    if tag:
        ref = Reference(ref.domain, ref.path, None, tag) if tag.startswith("sha256:") else ref.with_tag(tag)
    return ref


def split_search_term(term: str) -> tuple[str, str]:
    """"localhost:5000/acc" → ("localhost:5000", "acc"); "busybox" → ("docker.io", "busybox")."""
    first, sep, rest = term.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        return DOCKER_HUB, term.removeprefix("library/")
    if registry_domain(first) == DOCKER_HUB:
        return DOCKER_HUB, rest.removeprefix("library/")
    return first, rest


def search_filter(filters: dict[str, list[str]]) -> Callable[[dict], bool]:
    """docker search --filter: is-official=, is-automated=, stars=N."""
    for key in filters:
        if key not in ("is-official", "is-automated", "stars"):
            raise errors.InvalidArgument(f"invalid filter '{key}'")

    def flag(key: str) -> bool | None:
        values = filters.get(key)
        if not values:
            return None
        value = values[-1].lower()
        if value not in ("true", "false", "1", "0"):
            raise errors.InvalidArgument(f"invalid filter '{key}={values[-1]}'")
        return value in ("true", "1")

    official, automated = flag("is-official"), flag("is-automated")
    stars = 0
    for value in filters.get("stars", []):
        try:
            stars = max(stars, int(value))
        except ValueError:
            raise errors.InvalidArgument(f"invalid filter 'stars={value}'") from None

    def matches(result: dict) -> bool:
        if official is not None and bool(result.get("is_official")) != official:
            return False
        if automated is not None and bool(result.get("is_automated")) != automated:
            return False
        return int(result.get("star_count") or 0) >= stars

    return matches


async def progress_stream(work: Work, done: Callable[[Any], None]) -> StreamResponse:
    """Run `work(report, cancel)` in a thread and stream what it reports.

    Returns once the first message is out (an error before it is raised
    here, so it becomes the response's status); `done` gets the result.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Progress] = asyncio.Queue()
    cancel = threading.Event()

    def report(progress: Progress) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, progress)

    # The thread's messages are queued (call_soon_threadsafe) before its
    # result is set, so once the task is done the queue holds them all.
    task = asyncio.ensure_future(asyncio.to_thread(work, report, cancel))
    # A client that left never reads the outcome: retrieve it so it is not logged as lost.
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    first = await _next(queue, task)
    if first is None:
        done(task.result())  # an error with nothing said yet becomes an HTTP error
        return StreamResponse(_empty())

    async def chunks() -> AsyncIterator[bytes]:
        try:
            message: Progress | None = first
            while message is not None:
                yield progress_line(message.to_api())
                message = await _next(queue, task)
            try:
                done(task.result())
            except errors.DockyardError as exc:
                yield progress_line({"errorDetail": {"message": exc.message}, "error": exc.message})
            except Exception as exc:  # noqa: BLE001 - a bug still ends the stream with a message
                text = f"{type(exc).__name__}: {exc}"
                yield progress_line({"errorDetail": {"message": text}, "error": text})
        finally:
            cancel.set()  # the client left early: stop the work at its next chunk

    return StreamResponse(chunks())


async def _next(queue: asyncio.Queue, task: asyncio.Future) -> Progress | None:
    """The next message, or None once the work has finished and said everything."""
    if not queue.empty():
        return queue.get_nowait()
    if task.done():
        return None
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    return queue.get_nowait() if not queue.empty() else None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""


__all__ = ["progress_stream", "pull_handler", "pull_reference", "register", "search_filter", "split_search_term"]
