"""Builds, as the daemon runs them: ``POST /build`` and the build cache.

:class:`EngineBackend` is the build executor's view of the engine — images
from the image store, RUN steps as ordinary containers (created, attached,
started, waited for, committed and removed through the container service,
so they show in ``ps -a`` and in events while they run, as docker's do),
and COPY/ADD/WORKDIR as writes into a writable snapshot mounted for the
length of the step.

:class:`BuildService` turns a request into a build: it spools and unpacks
the context, reads and parses the Dockerfile, plans the stages — all before
the response starts, so that these errors are plain HTTP errors as in
docker — and then runs the executor, streaming its messages, and tags the
result.  It also prunes the cache and describes it for ``system df``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator, Mapping

from .. import errors
from ..archive import changes as archive_changes
from ..build.cache import BuildCache
from ..build.context import extract_context
from ..build.dispatch import BuildArgs
from ..build.executor import BuildError, BuildOptions, Executor, RunOutcome, short_id
from ..build.instructions import parse_instructions
from ..build.parser import parse as parse_dockerfile
from ..build.plan import plan_build
from ..build.shell_words import ShellLex
from ..images.config import ContainerConfig, HistoryEntry, ImageConfig
from ..images.reference import parse_reference
from ..images.store import ImageStore
from ..metadata.db import Database
from ..mount import mounted, unmount
from ..paths import DataRoot
from ..shim.client import read_frame
from ..snapshots.overlay import diff_dirs
from ..units import format_rfc3339
from .containers import ContainerService

log = logging.getLogger(__name__)

_RESOURCE_PARAMS = {  # POST /build query → the RUN containers' HostConfig
    "memory": "Memory", "memswap": "MemorySwap", "cpushares": "CpuShares", "cpuperiod": "CpuPeriod",
    "cpuquota": "CpuQuota", "shmsize": "ShmSize",
}


class EngineBackend:
    """The executor's BuildBackend over the image store and container service."""

    def __init__(self, store: ImageStore, containers: ContainerService, root: DataRoot):
        self.store = store
        self.containers = containers
        self.root = root

    # -- images -----------------------------------------------------------------------

    def resolve_image(self, ref: str) -> str:
        return self.store.resolve(ref)

    def image_config(self, image_id: str) -> ImageConfig:
        return self.store.config(image_id)

    def image_exists(self, image_id: str) -> bool:
        return self.store.exists(image_id)

    def new_image(self, parent: str, config: ContainerConfig, entry: HistoryEntry, author: str) -> str:
        return self.store.derive(parent or None, None, config, entry, author=author)

    # -- files --------------------------------------------------------------------------

    def _top(self, image_id: str) -> str | None:
        chain = self.store.rootfs_chain(image_id) if image_id else []
        return chain[-1] if chain else None

    def change_files(self, parent: str, change: Callable[[str], bool], config: ContainerConfig,
                     entry: HistoryEntry, author: str) -> str:
        key = "build-" + secrets.token_hex(16)
        mounts = self.store.snapshotter.prepare(key, self._top(parent))
        try:
            with mounted(mounts, self.root.tmp, prefix="build-mnt-") as root:
                changed = change(root)
            if not changed:
                return self.new_image(parent, config, entry, author)
            upper, lowers = diff_dirs(mounts, upper_only_bind=self.store.snapshotter.driver_name == "overlay2")
            return self._commit_diff(upper, lowers, (), parent, config, entry, author)
        finally:
            self.store.remove_rootfs(key)

    def _commit_diff(self, upper: str | None, lowers: list[str], points, parent: str,
                     config: ContainerConfig, entry: HistoryEntry, author: str) -> str:
        if upper is None:
            raise errors.InvalidArgument("building images needs the overlay snapshotter "
                                         "(this data root uses the copying one)")
        with archive_changes.spooled_layer(upper, lowers, points, self.root.tmp) as spool:
            return self.store.derive(parent or None, spool, config, entry, author=author)

    @contextlib.contextmanager
    def view(self, image_id: str) -> Iterator[str]:
        top = self._top(image_id)
        if top is None:
            empty = tempfile.mkdtemp(prefix="build-empty-", dir=self.root.tmp)
            try:
                yield empty
            finally:
                os.rmdir(empty)
            return
        key = "build-view-" + secrets.token_hex(16)
        mounts = self.store.snapshotter.view(key, top)
        try:
            with mounted(mounts, self.root.tmp, prefix="build-mnt-") as root:
                yield root
        finally:
            self.store.remove_rootfs(key)

    # -- RUN -------------------------------------------------------------------------

    async def run(self, request: dict, started: Callable[[str], None],
                  output: Callable[[bytes], None]) -> RunOutcome:
        c = self.containers.create(None, request)
        started(c.id)
        attached = self.containers.attach_stream(c, False, True, True)
        try:
            await self.containers.start(c.id)
        except BaseException:
            attached.cancel()
            raise
        reader, writer = await attached
        try:
            while (frame := await read_frame(reader)) is not None:
                output(frame[2])
        finally:
            writer.close()
        result = await self.containers.wait(c.id)
        return RunOutcome(c.id, int(result.get("StatusCode", 1)))

    def commit_container(self, container_id: str, parent: str, config: ContainerConfig,
                         entry: HistoryEntry, author: str) -> str:
        c = self.containers.get(container_id)
        upper, lowers = diff_dirs(self.store.rootfs_mounts(c.id), upper_only_bind=False)
        points = set(archive_changes.RUNTIME_MOUNT_POINTS) | {m["destination"] for m in c.mounts}
        return self._commit_diff(upper, lowers, points, parent, config, entry, author)

    async def remove_container(self, container_id: str) -> None:
        try:
            await self.containers.remove(container_id, force=True, volumes=True)
        except errors.NotFound:
            pass


@dataclass
class BuildRequest:
    """A parsed ``POST /build``: everything the stream needs, made before it starts."""

    executor: Executor
    tags: list[str]
    quiet: bool
    workspace: str
    build_args: BuildArgs
    warnings: list[str] = field(default_factory=list)


def _json_param(value: str | None, name: str) -> dict:
    if not value:
        return {}
    try:
        doc = json.loads(value)
    except ValueError:
        raise errors.InvalidArgument(f"invalid {name} parameter: not JSON") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise errors.InvalidArgument(f"invalid {name} parameter: not a JSON object")
    return doc


class BuildService:
    def __init__(self, db: Database, store: ImageStore, containers: ContainerService, root: DataRoot,
                 in_use_by: Callable[[str], list] | None = None):
        self.store = store
        self.root = root
        self.backend = EngineBackend(store, containers, root)
        self.cache = BuildCache(db, store.exists)
        self.in_use_by = in_use_by or (lambda image_id: [])
        self._recover()

    def _recover(self) -> None:
        """Clear what a daemon that died mid-build left: step mounts first
        (deleting through a live mount would empty a snapshot), then the
        build workspaces and the steps' writable snapshots."""
        if not os.path.isdir(self.root.tmp):
            return
        for entry in os.listdir(self.root.tmp):
            if entry.startswith("build-"):
                path = os.path.join(self.root.tmp, entry)
                if entry.startswith(("build-mnt-", "build-empty-")):
                    with contextlib.suppress(errors.DockyardError):
                        unmount(path, detach=True)
                    with contextlib.suppress(OSError):
                        os.rmdir(path)
                else:
                    shutil.rmtree(path, ignore_errors=True)
        active = self.store.snapshotter.paths.active_dir
        for key in os.listdir(active) if os.path.isdir(active) else []:
            if key.startswith("build-"):
                self.store.remove_rootfs(key)

    # -- starting a build ---------------------------------------------------------------

    async def prepare(self, query: Mapping[str, list[str]], body: AsyncIterator[bytes],
                      content_type: str = "") -> BuildRequest:
        """Unpack the context and plan the build; raises (as an HTTP error) on bad input."""
        q = {k: v[-1] for k, v in query.items() if v}
        if q.get("remote"):
            raise errors.InvalidArgument("building from a remote context (git or URL) is not supported "
                                         "by dockyard: send the context as a tar")
        if q.get("version") == "2":
            raise errors.InvalidArgument("BuildKit sessions are not supported by dockyard: "
                                         "use the classic builder (DOCKER_BUILDKIT=0)")
        tags = []
        for t in query.get("t", []):
            if not t:
                continue
            ref = parse_reference(t)
            if ref.digest is not None:
                raise errors.InvalidArgument(f"invalid reference format: {t}: a tag cannot contain a digest")
            tags.append(str(ref))
        build_args = _json_param(q.get("buildargs"), "buildargs")
        labels = _json_param(q.get("labels"), "labels")
        resources: dict[str, Any] = {}
        for param, key in _RESOURCE_PARAMS.items():
            if q.get(param) not in (None, "", "0", "-1" if param != "memswap" else ""):
                try:
                    resources[key] = int(q[param])
                except ValueError:
                    raise errors.InvalidArgument(f"invalid value for {param}: {q[param]!r}") from None
        if q.get("cpusetcpus"):
            resources["CpusetCpus"] = q["cpusetcpus"]
        platform = q.get("platform", "")
        if platform and platform not in ("linux/amd64", "linux", "amd64", "linux/x86_64"):
            raise errors.InvalidArgument(f"platform {platform} is not supported: dockyard builds linux/amd64")
        network = q.get("networkmode", "") or ""
        if network not in ("", "default", "host", "none"):
            raise errors.InvalidArgument(f"network mode {network!r} is not supported for builds yet "
                                         "(default, host or none)")

        os.makedirs(self.root.tmp, exist_ok=True)
        workspace = tempfile.mkdtemp(prefix="build-", dir=self.root.tmp)
        try:
            context_dir = os.path.join(workspace, "context")
            os.mkdir(context_dir)
            with tempfile.TemporaryFile(dir=workspace) as spool:
                async for chunk in body:
                    spool.write(chunk)
                spool.seek(0)
                await asyncio.to_thread(extract_context, spool, context_dir)
            name = q.get("dockerfile") or "Dockerfile"
            data = self._read_dockerfile(context_dir, name)
            _hide_build_files(context_dir, name)
            tree = parse_dockerfile(data, os.path.basename(name))
            dockerfile = parse_instructions(tree)
            lex = ShellLex(tree.escape_token)
            args = BuildArgs({str(k): (None if v is None else str(v)) for k, v in build_args.items()})
            for meta in dockerfile.meta_args:
                default = None if meta.default is None else lex.process_word(meta.default, args.meta_values())
                args.declare_meta(meta.name, default)
            plan = plan_build(dockerfile, q.get("target", ""), args.meta_values(), lex,
                              extra_steps=1 if labels else 0)
            originals = {node.start_line: node.original for node in tree.children}
            options = BuildOptions(build_args=args.given, target=q.get("target", ""),
                                   no_cache=_true(q.get("nocache")), labels={str(k): str(v) for k, v in labels.items()},
                                   network_mode=network, resources=resources, work_dir=workspace,
                                   dockerfile=_shown_name(name))
            executor = Executor(self.backend, self.cache, dockerfile, originals, plan, args, options,
                                context_dir, lex)
            return BuildRequest(executor, tags, _true(q.get("q")), workspace, args, list(tree.warnings))
        except BaseException:
            shutil.rmtree(workspace, ignore_errors=True)
            raise

    @staticmethod
    def _read_dockerfile(context_dir: str, name: str) -> bytes:
        from ..runtime.paths_in_root import secure_join

        candidates = [name] if name != "Dockerfile" else ["Dockerfile", "dockerfile"]
        for candidate in candidates:
            path = secure_join(context_dir, candidate)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    data = f.read()
                if not data.strip():
                    raise errors.InvalidArgument(f"the Dockerfile ({name}) cannot be empty")
                return data
        raise errors.InvalidArgument(f"Cannot locate specified Dockerfile: {name}")

    # -- running it --------------------------------------------------------------------

    async def run(self, req: BuildRequest) -> AsyncIterator[dict]:
        """The build's messages: steps, output, then the result or the error."""
        queue: asyncio.Queue[dict | None] = asyncio.Queue()
        task = asyncio.create_task(req.executor.build(queue.put_nowait))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        held: list[dict] = []  # quiet: the output, shown only if the build fails (as moby does)
        try:
            while (msg := await queue.get()) is not None:
                if req.quiet:
                    held.append(msg)
                else:
                    yield msg
            try:
                image_id = task.result()
            except Exception as e:  # noqa: BLE001 - a bug must still end the stream with an error
                for msg in held:
                    yield msg
                yield _error_message(e)
                return
            unused = req.build_args.unused()
            if unused and not req.quiet:
                yield {"stream": f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"}
            for ref in req.tags:
                await asyncio.to_thread(self.store.tag, image_id, ref)
            yield {"aux": {"ID": image_id}}
            if req.quiet:
                yield {"stream": image_id + "\n"}
                return
            yield {"stream": f"Successfully built {short_id(image_id)}\n"}
            for ref in req.tags:
                yield {"stream": f"Successfully tagged {parse_reference(ref).familiar()}\n"}
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            shutil.rmtree(req.workspace, ignore_errors=True)

    # -- the cache ---------------------------------------------------------------------

    def _protected(self) -> set[str]:
        """Images a prune must keep: tagged ones, their ancestors, and those containers use."""
        keep: set[str] = set()
        for rec in self.store.list(all=True):
            if not rec.refs and not self.in_use_by(rec.id):
                continue
            current = rec.id
            while current and current not in keep:
                keep.add(current)
                row = self.store.db.query_one("SELECT parent FROM images WHERE id = ?", (current,))
                current = row["parent"] if row else ""
        return keep

    def prune(self, all: bool = False, filters: Mapping[str, list[str]] | None = None) -> dict:
        """``POST /build/prune``: forget cache records and delete the images only they kept."""
        filters = dict(filters or {})
        for key in filters:
            if key not in ("until", "unused-for"):
                raise errors.InvalidArgument(f"invalid filter '{key}'")
        cutoff = None
        for value in filters.get("until", []) + filters.get("unused-for", []):
            from ..images.filters import parse_until

            cutoff = parse_until(value)
        records = [r for r in self.cache.records() if cutoff is None or r.last_used < cutoff]
        protected = self._protected()
        forget = [r for r in records if all or r.image_id not in protected]
        deleted_ids = {r.image_id for r in forget if r.image_id not in protected}
        self.cache.forget([r.key for r in forget])
        still_cached = self.cache.image_ids()
        reclaimed = 0
        progress = True
        while progress:
            progress = False
            for image_id in list(deleted_ids):
                if image_id in still_cached or not self.store.exists(image_id):
                    deleted_ids.discard(image_id)
                    continue
                if self.store.children(image_id):
                    continue
                size = self._step_size(image_id, self.store.get(image_id).parent)
                self.store.delete(image_id, prune=False)
                reclaimed += size
                deleted_ids.discard(image_id)
                progress = True
        reclaimed += self.store.collect_snapshots()
        return {"CachesDeleted": [r.key for r in forget] or None, "SpaceReclaimed": reclaimed}

    def usage(self) -> list[dict]:
        """``BuildCache`` records for ``GET /system/df``."""
        protected = self._protected()
        out = []
        for r in self.cache.records():
            if not self.store.exists(r.image_id):
                continue
            size = self._step_size(r.image_id, r.parent)
            out.append({
                "ID": r.key[:25], "Parent": "", "Type": "regular", "Description": r.description,
                "InUse": False, "Shared": r.image_id in protected, "Size": size,
                "CreatedAt": format_rfc3339(int(r.created * 1e9)), "LastUsedAt": format_rfc3339(int(r.last_used * 1e9)),
                "UsageCount": r.usage_count,
            })
        return out

    def _step_size(self, image_id: str, parent: str) -> int:
        layers = self.store.layers(image_id)
        parent_layers = len(self.store.layers(parent)) if parent and self.store.exists(parent) else 0
        return sum(layer.size for layer in layers[parent_layers:])


def _error_message(e: Exception) -> dict:
    if isinstance(e, BuildError):
        return {"errorDetail": {"code": e.code, "message": e.message}, "error": e.message}
    if isinstance(e, errors.DockyardError):
        return {"errorDetail": {"message": e.message}, "error": e.message}
    log.exception("build failed", exc_info=e)
    message = f"internal error: {type(e).__name__}: {e}"
    return {"errorDetail": {"message": message}, "error": message}


def _hide_build_files(context_dir: str, dockerfile: str) -> None:
    """moby's removeDockerfile: once read, the Dockerfile and .dockerignore
    leave the context when .dockerignore itself excludes them, so that
    ``COPY . .`` does not copy them (the CLI sent them regardless)."""
    from ..build.dockerignore import PatternMatcher, parse_dockerignore

    from ..runtime.paths_in_root import secure_join

    path = os.path.join(context_dir, ".dockerignore")
    if not os.path.isfile(path) or os.path.islink(path):
        return
    with open(path, "rb") as f:
        matcher = PatternMatcher.compile(parse_dockerignore(f.read()))
    for name in (dockerfile, ".dockerignore"):
        rel = os.path.normpath(name.lstrip("/"))
        if rel == ".." or rel.startswith("../") or not matcher.matches(rel):
            continue
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            os.unlink(secure_join(context_dir, rel))


def _shown_name(name: str) -> str:
    """The Dockerfile's name in step errors; the CLI's random name for a
    Dockerfile from outside the context or stdin means nothing to the user."""
    return "Dockerfile" if os.path.basename(name).startswith(".dockerfile.") else name


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


__all__ = ["BuildService", "EngineBackend"]
