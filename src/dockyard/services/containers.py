"""The container service: create, start, stop, kill, wait, remove, restore.

It keeps every container in memory (loaded from SQLite at start, written
through on every change) and one monitor task per running container that
waits on the container's shim for the exit.  Everything that touches a
container's process goes through its shim (shim/client.py); everything that
touches its files goes through the image store's snapshots and the data
root's paths.

Waiting is the delicate part.  Docker's clients ask to wait *before* they
start a container (``condition=next-exit`` or ``removed``), so waiters are
futures registered per container and resolved by the exit handler or by
removal, never by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal as _signal
from dataclasses import dataclass, field
from typing import Protocol

from .. import errors
from ..metadata.db import Database
from ..paths import ContainerPaths, DataRoot
from ..runtime import cgroups
from ..shim.client import ShimClient, shim_alive, spawn_shim
from ..shim.forkserver import ForkServer
from ..units import now_rfc3339, parse_rfc3339
from . import container_config as cc
from .container_views import labels_match
from .container_files import EtcNetwork
from .container_state import COLUMNS_ADDED, SCHEMA, ZERO_TIME, Container, ContainerState
from .attaches import PendingAttaches
from .container_bundle import prepare_bundle
from .restart_policy import RestartPolicy, next_delay
from .events import EventBus
from .names import random_name

log = logging.getLogger("dockyard.containers")


class ImageProvider(Protocol):
    """What the container service needs from the image store."""

    def image_for_container(self, name: str) -> tuple[str, dict]:
        """(image id, image config JSON) for a name or id; NotFound otherwise."""

    def prepare_rootfs(self, image_id: str, key: str) -> list:
        """Writable rootfs for a new container; returns mount descriptions."""

    def rootfs_mounts(self, key: str) -> list:
        """The mount descriptions of an existing container rootfs."""

    def remove_rootfs(self, key: str) -> None: ...

    def read_image_file(self, image_id: str, path: str) -> bytes | None: ...


@dataclass
class _Waiters:
    next_exit: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    exited: asyncio.Event = field(default_factory=asyncio.Event)


class ContainerService:
    def __init__(self, db: Database, root: DataRoot, images: ImageProvider, events: EventBus, forkserver: ForkServer):
        self.db = db
        self.root = root
        self.images = images
        self.events = events
        self.forkserver = forkserver
        self._spawn_lock = asyncio.Lock()
        self._containers: dict[str, Container] = {}
        self._waiters: dict[str, _Waiters] = {}
        self._monitors: dict[str, asyncio.Task] = {}
        self.attaches = PendingAttaches()
        self._restarts: dict[str, asyncio.Task] = {}  # pending restarts by policy
        self._delays: dict[str, float] = {}  # back-off per container
        self._stopping: set[str] = set()  # stopped or killed by a user
        self._restarting: set[str] = set()  # in a user's restart: no auto-removal
        self._locks: dict[str, asyncio.Lock] = {}
        # Other services follow container lives: health checks start and stop here.
        self.on_start: list = []  # callables(Container)
        self.on_exit: list = []  # callables(Container)
        self.on_resume: list = []  # callables(Container): still running after a daemon restart
        # Set by the wiring: a container's mounts (services/container_mounts.py)
        # and its network endpoints (services/networks.py).
        self.mounts = None
        self.networks = None
        db.ensure_schema(SCHEMA)
        db.ensure_columns("containers", COLUMNS_ADDED)
        for row in db.query("SELECT * FROM containers"):
            c = Container.from_row(row)
            self._containers[c.id] = c

    # -- lookup ------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """By full id, by name (with or without '/'), or by unique id prefix."""
        if ref in self._containers:
            return self._containers[ref]
        name = ref.lstrip("/")
        for c in self._containers.values():
            if c.name == name:
                return c
        if ref:
            matches = [c for c in self._containers.values() if c.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise errors.InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise errors.NotFound(f"No such container: {ref}")

    def all(self) -> list[Container]:
        return sorted(self._containers.values(), key=lambda c: c.created, reverse=True)

    def using_image(self, image_id: str) -> list[Container]:
        return [c for c in self._containers.values() if c.image_id == image_id]

    def paths(self, c: Container) -> ContainerPaths:
        return self.root.container(c.id)

    def _w(self, cid: str) -> _Waiters:
        if cid not in self._waiters:
            self._waiters[cid] = _Waiters()
        return self._waiters[cid]

    def save_config(self, c: Container) -> None:
        with self.db.transaction() as cur:
            cur.execute("UPDATE containers SET host_config=?, config=? WHERE id=?",
                        (json.dumps(c.host_config), json.dumps(c.config), c.id))

    def save_networks(self, c: Container) -> None:
        with self.db.transaction() as cur:
            cur.execute("UPDATE containers SET networks=?, ports=? WHERE id=?",
                        (json.dumps(c.networks), json.dumps(c.ports), c.id))

    def save(self, c: Container) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                "UPDATE containers SET name=?, state=?, restart_count=? WHERE id=?",
                (c.name, c.state_json(), c.restart_count, c.id),
            )

    def event(self, c: Container, action: str, **extra) -> None:
        attrs = {"image": c.image, "name": c.name, **(c.config.get("Labels") or {}), **extra}
        self.events.publish("container", action, c.id, attrs)

    # -- create ------------------------------------------------------------------

    def create(self, name: str | None, request: dict) -> Container:
        if not isinstance(request, dict) or not request.get("Image"):
            raise errors.InvalidArgument("Config cannot be empty in order to create a container")
        host_config = cc.validate_host_config(request.get("HostConfig") or {})
        if name:
            name = cc.validate_name(name)
            self._check_name_free(name)
        image_id, image_config = self.images.image_for_container(request["Image"])
        body = {k: v for k, v in request.items() if k not in ("HostConfig", "NetworkingConfig")}
        config = cc.merge_config(body, image_config)
        argv = cc.command_line(config)
        if not argv:
            raise errors.InvalidArgument("No command specified")
        cid = secrets.token_hex(32)
        if not name:
            name = self._fresh_name()
        if not config.get("Hostname"):
            config["Hostname"] = cid[:12]
        paths = self.root.container(cid)
        os.makedirs(paths.dir, mode=0o710)
        mounts: list = []
        networks = self.networks.plan_container(host_config, request.get("NetworkingConfig")) if self.networks else {}
        try:
            mounts = self.mounts.plan(config, host_config) if self.mounts else []
            self.images.prepare_rootfs(image_id, cid)
            c = Container(
                id=cid, name=name, created=now_rfc3339(), image=request["Image"], image_id=image_id,
                config=config, host_config=host_config, path=argv[0], args=argv[1:], mounts=mounts,
                networks=networks,
            )
            with self.db.transaction() as cur:
                cur.execute(
                    "INSERT INTO containers (id, name, created, image, image_id, config, host_config, path,"
                    " args, state, restart_count, mounts, networks) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (c.id, c.name, c.created, c.image, c.image_id, json.dumps(c.config),
                     json.dumps(c.host_config), c.path, json.dumps(c.args), c.state_json(), 0, json.dumps(mounts),
                     json.dumps(networks)),
                )
        except BaseException:
            if mounts and self.mounts:
                self.mounts.remove_anonymous(Container(cid, "", "", "", "", {}, {}, "", [], mounts=mounts))
            self._discard_files(cid)
            raise
        self._containers[cid] = c
        self.event(c, "create")
        return c

    def _check_name_free(self, name: str) -> None:
        for other in self._containers.values():
            if other.name == name:
                raise errors.Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container "{other.id}". '
                    "You have to remove (or rename) that container to be able to reuse that name."
                )

    def _fresh_name(self) -> str:
        taken = {c.name for c in self._containers.values()}
        for attempt in range(100):
            n = random_name(attempt > 10)
            if n not in taken:
                return n
        return secrets.token_hex(6)

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        new_name = cc.validate_name(new_name)
        if new_name == c.name:
            raise errors.InvalidArgument("Renaming a container with the same name as its current name")
        self._check_name_free(new_name)
        old = c.name
        c.name = new_name
        self.save(c)
        self.event(c, "rename", oldName="/" + old)

    # -- start ---------------------------------------------------------------------

    def _lock(self, cid: str) -> asyncio.Lock:
        """One lock per container: a start and a remove (or two starts) never interleave."""
        if cid not in self._locks:
            self._locks[cid] = asyncio.Lock()
        return self._locks[cid]

    async def start(self, ref: str, *, policy_restart: bool = False) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            if c.id not in self._containers:
                raise errors.NotFound(f"No such container: {ref}")
            c.check("policy-restart" if policy_restart else "start")
            paths = self.paths(c)
            try:
                # Not cancellable half-way: a cancelled launch would leave a
                # shim and a process that no record knows about.
                await asyncio.shield(self._launch(c, paths))
            except _StartFailed as e:
                await self._start_failed(c, e.error.message, e.code)
                raise e.error from None
            except errors.DockyardError as e:
                await self._start_failed(c, e.message, 128)
                raise

    async def _launch(self, c: Container, paths: ContainerPaths) -> None:
        extra_binds = self.mounts.oci_mounts(c) if self.mounts else []
        sandbox = await self.networks.setup(c, self.get) if self.networks else None
        c.sandbox = sandbox or ""
        etc = self.networks.etc_view(c, self.get) if self.networks else EtcNetwork()
        try:
            shim_config = prepare_bundle(c, paths, self.images.read_image_file, self.images.rootfs_mounts(c.id),
                                         extra_binds, os.path.join(self.root.root, "runtime"), sandbox, etc)
        except BaseException:
            await self._release_network(c)
            raise
        shim_pid = await spawn_shim(self.forkserver, self._spawn_lock, shim_config)
        shim = ShimClient(paths.shim_socket)
        if self.networks:
            try:
                await self.networks.ready(c)  # its interfaces, before its process runs
            except BaseException:
                with contextlib.suppress(errors.DockyardError, OSError):
                    await shim.request("kill", signal=_signal.SIGKILL)
                raise
        await self.attaches.connect(c.id, shim)
        w = self._w(c.id)
        w.exited = asyncio.Event()
        reply = await shim.request("start")
        if not reply.get("ok"):
            code = int(reply.get("code") or 128)
            message = (
                "failed to create task for container: OCI runtime create failed: "
                f"unable to start container process: error during container init: {reply.get('message')}: unknown"
            )
            error = errors.InvalidArgument(message) if code in (126, 127) else errors.SystemError(message)
            raise _StartFailed(error, code)
        c.state = ContainerState(
            status="running", pid=int(reply["pid"]), started_at=now_rfc3339(), finished_at=c.state.finished_at,
            exit_code=0, shim_pid=shim_pid,
        )
        self.save(c)
        self.event(c, "start")
        self._monitors[c.id] = asyncio.create_task(self._monitor(c, shim))
        for callback in self.on_start:
            callback(c)

    async def _start_failed(self, c: Container, message: str, code: int) -> None:
        self.attaches.fail(c.id, errors.Conflict("container failed to start"))
        await self._release_network(c)
        exit_code = code
        c.state.error = message
        c.state.exit_code = exit_code
        if c.state.started_at == ZERO_TIME:
            c.state.status = "created"
        else:
            c.state.status = "exited"
            c.state.finished_at = now_rfc3339()
        self.save(c)
        for callback in self.on_exit:  # volumes taken for the start are released
            callback(c)
        self.event(c, "die", exitCode=str(exit_code))
        self._resolve_next_exit(c)
        if c.host_config.get("AutoRemove"):
            await self._remove_unlocked(c, force=True)

    # -- the exit ----------------------------------------------------------------

    async def _monitor(self, c: Container, shim: ShimClient) -> None:
        try:
            try:
                result = await shim.request("wait")
            except errors.Unavailable:
                result = self._read_exit_file(c)
            await self._handle_exit(c, result)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a monitor must never die silently
            log.exception("monitor of %s failed", c.id)
        finally:
            self._monitors.pop(c.id, None)

    def _read_exit_file(self, c: Container) -> dict:
        try:
            with open(self.paths(c).exit_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"exit_code": 255, "oom_killed": False, "finished_at": now_rfc3339(),
                    "error": "the container's supervisor ended without recording an exit"}

    async def _handle_exit(self, c: Container, result: dict) -> None:
        if c.id not in self._containers:
            return
        manual = c.id in self._stopping or c.state.manually_stopped
        self._stopping.discard(c.id)
        # While it still looks running, so that no waiter sees the exit (and
        # removes the container, or its network) before its endpoints are gone.
        await self._release_network(c)
        c.state = ContainerState(
            status="exited", pid=0, exit_code=int(result.get("exit_code", 255)),
            error=result.get("error") or "", oom_killed=bool(result.get("oom_killed")),
            started_at=c.state.started_at, finished_at=result.get("finished_at") or now_rfc3339(),
            manually_stopped=manual, health=c.state.health,
        )
        for callback in self.on_exit:
            callback(c)
        policy = RestartPolicy.from_api(c.host_config.get("RestartPolicy"))
        if policy.after_exit(c.state.exit_code, c.restart_count, manual):
            c.state.status = "restarting"
        self.save(c)
        if c.state.oom_killed:
            self.event(c, "oom")
        self.event(c, "die", exitCode=str(c.state.exit_code))
        self._w(c.id).exited.set()
        self._resolve_next_exit(c)
        if c.state.status == "restarting":
            ran_for = parse_rfc3339(c.state.finished_at) - parse_rfc3339(c.state.started_at)
            delay = next_delay(self._delays.get(c.id, 0.0), ran_for)
            self._delays[c.id] = delay
            self._restarts[c.id] = asyncio.create_task(self._restart_later(c, delay))
        elif c.host_config.get("AutoRemove") and c.id not in self._restarting:
            await self.remove(c.id, force=True)

    async def _release_network(self, c: Container) -> None:
        c.sandbox = ""
        if self.networks is None:
            return
        try:
            await self.networks.teardown(c)
        except Exception:  # noqa: BLE001 - an exit must be recorded even if a device is stuck
            log.exception("network teardown of %s failed", c.id[:12])

    async def _restart_later(self, c: Container, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            if c.id not in self._containers or c.state.status != "restarting":
                return
            c.restart_count += 1
            try:
                # Still "restarting" until it runs, as docker shows it.
                await self.start(c.id, policy_restart=True)
            except errors.DockyardError as e:
                log.warning("restart of %s failed: %s", c.id[:12], e.message)
        finally:
            if self._restarts.get(c.id) is asyncio.current_task():
                del self._restarts[c.id]

    def _cancel_restart(self, c: Container) -> bool:
        """A user's stop/kill/rm of a container waiting to restart: it stays down."""
        task = self._restarts.pop(c.id, None)
        if task is None:
            return False
        task.cancel()
        c.state.status = "exited"
        c.state.manually_stopped = True
        self.save(c)
        return True

    def _resolve_next_exit(self, c: Container) -> None:
        w = self._w(c.id)
        waiters, w.next_exit = w.next_exit, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(self._wait_result(c))

    def _wait_result(self, c: Container) -> dict:
        result: dict = {"StatusCode": c.state.exit_code}
        if c.state.error:
            result["Error"] = {"Message": c.state.error}
        return result

    # -- stop, kill, restart ----------------------------------------------------------

    def shim(self, c: Container) -> ShimClient:
        return ShimClient(self.paths(c).shim_socket)

    async def kill(self, ref: str, signal_name=None) -> None:
        c = self.get(ref)
        sig = cc.parse_signal(signal_name, _signal.SIGKILL)
        c.check("kill")
        if self._cancel_restart(c):
            return
        self._stopping.add(c.id)
        await self._signal(c, sig)
        self.event(c, "kill", signal=str(sig))

    async def _signal(self, c: Container, sig: int) -> None:
        try:
            await self.shim(c).request("kill", signal=sig)
        except errors.Unavailable:
            pass  # the process is gone already; its exit is on the way
        if c.state.status == "paused" and sig in (_signal.SIGKILL, _signal.SIGTERM, _signal.SIGINT):
            # a frozen process cannot act on the signal: thaw it, as docker does
            try:
                await asyncio.to_thread(cgroups.Cgroup(f"/dockyard/{c.id}").thaw)
            except OSError:
                pass
            c.state.status = "running"
            self.save(c)

    async def stop(self, ref: str, timeout: int | None = None, signal_name=None) -> None:
        c = self.get(ref)
        c.check("stop")
        if self._cancel_restart(c):
            return
        self._stopping.add(c.id)
        sig = cc.parse_signal(signal_name or c.config.get("StopSignal") or None, _signal.SIGTERM)
        if timeout is None:
            timeout = c.config.get("StopTimeout")
            timeout = 10 if timeout is None else int(timeout)
        exited = self._w(c.id).exited
        self.event(c, "kill", signal=str(sig))
        await self._signal(c, sig)
        if timeout < 0:
            await exited.wait()
        else:
            try:
                await asyncio.wait_for(exited.wait(), timeout)
            except asyncio.TimeoutError:
                self.event(c, "kill", signal=str(int(_signal.SIGKILL)))
                await self._signal(c, _signal.SIGKILL)
                await exited.wait()
        self.event(c, "stop")

    async def restart(self, ref: str, timeout: int | None = None, signal_name=None) -> None:
        c = self.get(ref)
        # a --rm container survives its own restart, as in docker
        self._restarting.add(c.id)
        try:
            if c.state.running:
                await self.stop(c.id, timeout, signal_name)
            await self.start(c.id)
        finally:
            self._restarting.discard(c.id)
        self.event(c, "restart")

    # -- wait ------------------------------------------------------------------------

    async def wait(self, ref: str, condition: str = "not-running") -> dict:
        c = self.get(ref)
        condition = condition or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise errors.InvalidArgument(f"invalid condition: \"{condition}\"")
        fut = asyncio.get_running_loop().create_future()
        if condition == "removed":
            self._w(c.id).removed.append(fut)
        elif condition == "next-exit" or c.state.running:
            self._w(c.id).next_exit.append(fut)
        else:
            return self._wait_result(c)
        return await fut

    # -- remove ------------------------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            await self._remove_unlocked(c, force, volumes)
        self._locks.pop(c.id, None)

    async def _remove_unlocked(self, c: Container, force: bool = False, volumes: bool = False) -> None:
        if c.state.status == "removing":
            raise errors.Conflict(f"removal of container {c.name} is already in progress")
        if c.state.status == "restarting" and not force:
            raise errors.Conflict(
                f"cannot remove container \"/{c.name}\": container is restarting: "
                "stop the container before removing or force remove"
            )
        self._cancel_restart(c)
        if c.state.running:
            if not force:
                raise errors.Conflict(
                    f"cannot remove container \"/{c.name}\": container is running: "
                    "stop the container before removing or force remove"
                )
            exited = self._w(c.id).exited
            await self._signal(c, _signal.SIGKILL)
            try:
                await asyncio.wait_for(exited.wait(), 10)
            except asyncio.TimeoutError:
                raise errors.SystemError(f"could not kill container {c.id[:12]}") from None
            if c.id not in self._containers:
                return  # removed meanwhile by auto-remove
        if c.id not in self._containers:
            return
        c.state.status = "removing"
        self.db.execute("DELETE FROM containers WHERE id=?", (c.id,))
        del self._containers[c.id]
        if self.mounts and (volumes or c.host_config.get("AutoRemove")):
            self.mounts.remove_anonymous(c)
        if self.networks is not None:
            self.networks.forget(c)
        await asyncio.get_running_loop().run_in_executor(None, self._discard_files, c.id)
        self.event(c, "destroy")
        self.attaches.drop(c.id)
        w = self._waiters.pop(c.id, None)
        if w:
            for fut in w.removed + w.next_exit:
                if not fut.done():
                    fut.set_result(self._wait_result(c))

    def _discard_files(self, cid: str) -> None:
        try:
            self.images.remove_rootfs(cid)
        except errors.NotFound:
            pass
        shutil.rmtree(self.root.container(cid).dir, ignore_errors=True)

    async def prune(self, until: float | None = None, labels: list[str] | None = None) -> dict:
        deleted, reclaimed = [], 0
        for c in list(self._containers.values()):
            if c.state.running or c.state.status == "removing":
                continue
            if not labels_match(c.config.get("Labels") or {}, labels or []):
                continue
            if until is not None and parse_rfc3339(c.created) >= until:
                continue
            try:
                reclaimed += self.images.rootfs_usage(c.id)
            except Exception:  # noqa: BLE001 - a size we cannot read is simply not counted
                pass
            await self.remove(c.id)
            deleted.append(c.id)
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # -- attach plumbing -------------------------------------------------------------

    def attach_stream(self, c: Container, stdin: bool, stdout: bool, stderr: bool) -> asyncio.Future:
        """A future for the shim's attach stream (reader, writer): at once for
        a running container, else when it next starts (clients attach first)."""
        if c.state.running:
            return asyncio.ensure_future(self.shim(c).attach(stdin, stdout, stderr))
        return self.attaches.add(c.id, stdin, stdout, stderr)

    def is_running(self, c: Container) -> bool:
        return c.id in self._containers and c.state.running

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if not c.state.running:
            raise errors.Conflict(f"Container {c.id} is not running")
        await self.shim(c).request("resize", h=height, w=width)

    # -- daemon start --------------------------------------------------------------

    async def restore(self) -> None:
        """Reconnect to the shims of containers that were running when we
        stopped, record the exits that happened meanwhile, and start what the
        restart policies say must run."""
        for c in list(self._containers.values()):
            paths = self.paths(c)
            if c.state.status == "restarting":
                c.state.status = "exited"  # its back-off died with the old daemon
                await self._start_quietly(c)
            elif c.state.status in ("running", "paused", "removing"):
                if shim_alive(paths.shim_pid) and os.path.exists(paths.shim_socket):
                    self._w(c.id).exited = asyncio.Event()
                    self._monitors[c.id] = asyncio.create_task(self._monitor(c, ShimClient(paths.shim_socket)))
                    if self.networks is not None:
                        c.sandbox = await self.networks.resume(c)
                    for callback in self.on_resume:
                        callback(c)
                else:
                    await self._handle_exit(c, self._read_exit_file(c))
            elif c.state.status == "exited" and RestartPolicy.from_api(
                c.host_config.get("RestartPolicy")
            ).at_daemon_start(c.state.manually_stopped):
                await self._start_quietly(c)

    async def _start_quietly(self, c: Container) -> None:
        try:
            await self.start(c.id)
        except errors.DockyardError as e:
            log.warning("could not start %s at daemon start: %s", c.id[:12], e.message)

    async def shutdown(self) -> None:
        for task in list(self._monitors.values()) + list(self._restarts.values()):
            task.cancel()


class _StartFailed(Exception):
    def __init__(self, error: errors.DockyardError, code: int):
        self.error = error
        self.code = code
