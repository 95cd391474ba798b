"""``docker exec``: exec instances of running containers.

An exec is created (its configuration recorded), then started once; its
stream goes through the container's shim (shim/exec.py), whose last frame
carries the exit code, recorded here before the client's stream closes, so
that the inspect a client sends next sees it.  Exec records live in memory
and go away with their container, as in docker.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field

from .. import errors
from ..runtime import capabilities
from ..runtime.users import resolve as resolve_user
from ..shim import protocol
from ..shim.client import copy_input, read_frame
from .containers import ContainerService
from .container_state import Container


@dataclass
class Exec:
    id: str
    container_id: str
    config: dict  # Engine API ExecConfig
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    started: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_api(self) -> dict:
        cmd = self.config.get("Cmd") or []
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": bool(self.config.get("Tty")),
                "entrypoint": cmd[0] if cmd else "",
                "arguments": cmd[1:],
                "privileged": bool(self.config.get("Privileged")),
                "user": self.config.get("User") or "",
            },
            "OpenStdin": bool(self.config.get("AttachStdin")),
            "OpenStderr": bool(self.config.get("AttachStderr")),
            "OpenStdout": bool(self.config.get("AttachStdout")),
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.config.get("DetachKeys") or "",
            "Pid": self.pid,
        }


class ExecService:
    def __init__(self, containers: ContainerService):
        self.containers = containers
        self._execs: dict[str, Exec] = {}

    def _running(self, c: Container) -> None:
        if c.state.status == "paused":
            raise errors.Conflict(f"container {c.id} is paused, unpause the container before exec")
        if not c.state.running:
            raise errors.Conflict(f"container {c.id} is not running")

    def create(self, ref: str, config: dict) -> Exec:
        c = self.containers.get(ref)
        if not isinstance(config, dict) or not config.get("Cmd"):
            raise errors.InvalidArgument("No exec command specified")
        if isinstance(config["Cmd"], str):
            config["Cmd"] = [config["Cmd"]]
        self._running(c)
        e = Exec(secrets.token_hex(32), c.id, config)
        self._forget_stale()
        self._execs[e.id] = e
        self.containers.event(c, f"exec_create: {' '.join(config['Cmd'])}", execID=e.id)
        return e

    def _forget_stale(self) -> None:
        for eid, e in list(self._execs.items()):
            try:
                c = self.containers.get(e.container_id)
            except errors.NotFound:
                del self._execs[eid]
                continue
            if not c.state.running and not e.running:
                del self._execs[eid]

    def get(self, exec_id: str) -> Exec:
        e = self._execs.get(exec_id)
        if e is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return e

    def check_startable(self, e: Exec) -> Container:
        if e.started:
            raise errors.Conflict(f"Error: Exec command {e.id} is already running" if e.running
                                  else f"Error: Exec command {e.id} has already run")
        c = self.containers.get(e.container_id)
        self._running(c)
        return c

    def process_spec(self, c: Container, e: Exec, tty: bool, console_size) -> dict:
        """The OCI process for the exec: the container's, with the exec's changes."""
        with open(self.containers.paths(c).config) as f:
            base = json.load(f)["process"]
        cfg = e.config
        env = list(base.get("env") or [])
        keys = {item.split("=", 1)[0]: i for i, item in enumerate(env)}
        for item in cfg.get("Env") or []:
            k = item.split("=", 1)[0]
            if k in keys:
                env[keys[k]] = item
            else:
                env.append(item)
        process = dict(base)
        process["args"] = list(cfg["Cmd"])
        process["env"] = env
        process["terminal"] = bool(tty)
        process.pop("consoleSize", None)
        if tty and console_size and all(console_size):
            process["consoleSize"] = {"height": int(console_size[0]), "width": int(console_size[1])}
        if cfg.get("WorkingDir"):
            process["cwd"] = cfg["WorkingDir"]
        if cfg.get("User"):
            read = lambda p: self.containers.images.read_image_file(c.image_id, p)  # noqa: E731
            u = resolve_user(cfg["User"], read("/etc/passwd"), read("/etc/group"))
            process["user"] = {"uid": u.uid, "gid": u.gid, "additionalGids": list(u.additional_gids)}
        if cfg.get("Privileged"):
            every = capabilities.effective_set([], [], True)
            process["capabilities"] = {"bounding": every, "effective": every, "permitted": every,
                                       "inheritable": [], "ambient": []}
        return process

    async def run(self, e: Exec, c: Container, tty: bool, console_size, client_reader=None, client_writer=None) -> None:
        """Start the exec and copy its stream; with no client, wait for its end (detached)."""
        e.started = True
        e.running = True
        stdin = bool(e.config.get("AttachStdin")) and client_reader is not None
        try:
            process = self.process_spec(c, e, tty, console_size)
            shim_reader, shim_writer = await self.containers.shim(c).exec(e.id, process, stdin)
        except errors.DockyardError as exc:
            message = exc.message
            e.exit_code = 127 if ("not found" in message or "no such file" in message) else 126
            e.running = False
            e.done.set()
            if client_writer is not None:
                text = (f"OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown\r\n").encode()
                client_writer.write(text if tty else protocol.frame(protocol.STDOUT, text))
                await _close(client_writer)
            return
        self.containers.event(c, "exec_start: " + " ".join(e.config["Cmd"]), execID=e.id)
        in_task = None
        if stdin:
            in_task = asyncio.create_task(copy_input(client_reader, shim_writer))
        try:
            while (frame := await read_frame(shim_reader)) is not None:
                stream, header, data = frame
                if stream == protocol.EXIT:
                    e.exit_code = int(json.loads(data)["exit_code"])
                    break
                if client_writer is None:
                    continue
                client_writer.write(data if tty else header + data)
                try:
                    await client_writer.drain()
                except ConnectionError:
                    client_writer = None
        finally:
            if in_task is not None:
                in_task.cancel()
            shim_writer.close()
            e.running = False
            if e.exit_code is None:
                e.exit_code = 137 if not self.containers.is_running(c) else 126
            e.done.set()
            self.containers.event(c, "exec_die", execID=e.id, exitCode=str(e.exit_code))
            if client_writer is not None:
                await _close(client_writer)

    async def probe(self, c: Container, cmd: list[str], timeout: float) -> tuple[int, str]:
        """Run a command in the container and collect its output (health checks).

        Returns (exit code, output); a probe that outlives `timeout` is killed
        and reported as docker does, with exit code -1.
        """
        e = Exec(secrets.token_hex(32), c.id, {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
        process = self.process_spec(c, e, False, None)
        shim = self.containers.shim(c)
        try:
            reader, writer = await shim.exec(e.id, process, False)
        except errors.DockyardError as exc:
            return 126, exc.message
        output = bytearray()
        code = -1

        async def collect() -> int:
            while (frame := await read_frame(reader)) is not None:
                stream, _header, data = frame
                if stream == protocol.EXIT:
                    return int(json.loads(data)["exit_code"])
                if len(output) < 4096:  # docker keeps at most 4 KiB of a probe's output
                    output.extend(data[: 4096 - len(output)])
            raise ConnectionError("probe stream ended without an exit code")

        try:
            code = await asyncio.wait_for(collect(), timeout)
        except asyncio.TimeoutError:
            try:
                await shim.request("kill", exec=e.id, signal=9)
            except errors.DockyardError:
                pass
            return -1, f"Health check exceeded timeout ({timeout:g}s)"
        except (asyncio.IncompleteReadError, ConnectionError):
            return -1, "health check probe ended without an exit code"
        finally:
            writer.close()
        return code, output.decode("utf-8", "replace")

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        e = self.get(exec_id)
        c = self.containers.get(e.container_id)
        if not e.running:
            raise errors.Conflict(f"Exec {exec_id} is not running")
        await self.containers.shim(c).request("resize", exec=e.id, h=height, w=width)


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.drain()
    except ConnectionError:
        pass
    try:
        writer.close()
    except RuntimeError:
        pass
