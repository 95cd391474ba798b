"""The per-container supervisor: holds stdio, writes logs, records the exit.

A shim is forked (never exec'd: it is a copy of the daemon's fork server) and
detached from the daemon, so it outlives it.  Its life, in order:

1. Detach: new session, stdio to /dev/null, a recognisable process name.
2. A private mount namespace, where it mounts the container's rootfs at the
   bundle's ``rootfs``: the host never sees the mount, and when the shim and
   the container are gone the kernel unmounts it for us.
3. The container's stdio: a pty, or pipes for stdout/stderr (and stdin when
   the container keeps it open).
4. The container process: with our runtime, unshare the PID namespace and
   fork a child that runs `runtime.linux.init` up to the point of exec; with
   runc or crun, a child that will exec ``runc run`` on the same bundle.  Both
   block until the daemon sends ``start``.
5. Listen on shim.sock, tell the daemon we are ready, and serve requests
   (see protocol.py) while copying output to the json-file log and to
   attached clients.
6. When the process has ended and its output is drained: record the exit
   (and whether the OOM killer struck), remove the cgroup, answer waiters,
   linger briefly, exit.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import signal
import socket
import struct
import subprocess
import termios
import traceback
from dataclasses import dataclass, field

from ..mount import Mount, mount_all
from ..runtime import cgroups, linux, syscalls
from . import protocol
from .address import short_path
from .exec import ExecSession
from .fdio import copy_to_fd, open_fds, read_to_eof, write_fd
from .logfile import JsonFileLog
from ..units import now_rfc3339


@dataclass(frozen=True, slots=True)
class ShimConfig:
    """Everything a shim needs to run one container; sent by the daemon as JSON."""

    id: str
    bundle: str
    runtime: str = "dockyard"  # or a path/name of an OCI runtime binary (runc, crun)
    runtime_root: str = ""
    terminal: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    rootfs_mounts: list = field(default_factory=list)  # [{"type", "source", "options"}]
    log_path: str = ""
    log_max_size: int = 0  # bytes; 0: no rotation
    log_max_files: int = 1

    @staticmethod
    def from_json(data: dict) -> "ShimConfig":
        return ShimConfig(**data)


def _write_atomic(path: str, data: bytes) -> None:
    # Rename makes it all-or-nothing for a reader and against a killed
    # process; no fsync: after a power cut the container is gone anyway.
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Shim:
    def __init__(self, config: ShimConfig, hello: socket.socket):
        self.config = config
        self.hello = hello
        self.spec: dict = {}
        self.pid = 0
        self.status = "created"
        self.go_w = -1
        self.err_r = -1
        self.master = -1  # pty master, when terminal
        self.stdin_w = -1
        self.outputs: dict[int, int] = {}  # fd -> stream number
        self.partial: dict[int, bytes] = {}
        self.log = None
        self.attached: list[tuple[asyncio.StreamWriter, bool, bool]] = []
        self.exit_result: dict | None = None
        self.exited = None  # asyncio.Event once the loop runs
        self.child_status: int | None = None
        self._ours = config.runtime in ("", "dockyard")
        self.execs: dict[int, ExecSession] = {}  # by pid
        self.helpers: dict[int, asyncio.Future] = {}  # helper programs' exits, by pid
        self.unclaimed: dict[int, int] = {}  # exits reaped before anyone asked
        self.tasks: set[asyncio.Task] = set()
        self.exec_ids: dict[str, ExecSession] = {}
        self.console: socket.socket | None = None
        self._console_child: socket.socket | None = None

    # -- setup (synchronous, before the event loop exists) --------------------

    def setup(self) -> None:
        cfg = self.config
        with open(os.path.join(cfg.bundle, "config.json")) as f:
            self.spec = json.load(f)
        syscalls.unshare(syscalls.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        rootfs = os.path.join(cfg.bundle, self.spec["root"]["path"])
        os.makedirs(rootfs, exist_ok=True)
        mount_all([Mount(m["type"], m["source"], tuple(m.get("options", []))) for m in cfg.rootfs_mounts], rootfs)
        self.log = JsonFileLog(cfg.log_path, cfg.log_max_size, cfg.log_max_files) if cfg.log_path else None
        child_stdio = self._make_stdio()
        self._fork_container(child_stdio)

    def _make_stdio(self) -> tuple[int, int, int]:
        if self.config.terminal and self._ours:
            # Our runtime opens the pty inside the container and sends the
            # master back on the console socket (see runtime/linux.py).
            self.console, theirs = socket.socketpair()
            devnull = os.open("/dev/null", os.O_RDWR)
            self._console_child = theirs
            return devnull, devnull, devnull
        if self.config.terminal:
            master, slave = pty.openpty()
            self.master = master
            self.outputs[master] = protocol.STDOUT
            return slave, slave, slave
        devnull = os.open("/dev/null", os.O_RDWR)
        if self.config.open_stdin:
            stdin_r, self.stdin_w = os.pipe()
        else:
            stdin_r = devnull
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.outputs[out_r] = protocol.STDOUT
        self.outputs[err_r] = protocol.STDERR
        return stdin_r, out_w, err_w

    def _fork_container(self, stdio: tuple[int, int, int]) -> None:
        go_r, self.go_w = os.pipe()
        self.err_r, err_w = os.pipe2(os.O_CLOEXEC)
        ours = self._ours
        if ours:
            syscalls.unshare(syscalls.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            try:
                for i, fd in enumerate(stdio):
                    os.dup2(fd, i)
                console = self._console_child.fileno() if self._console_child else -1
                keep = {0, 1, 2, go_r, err_w, console}
                for fd in open_fds():
                    if fd not in keep:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                if ours:
                    linux.init(self.spec, self.config.bundle, go_r, err_w, console)
                else:
                    self._exec_oci_runtime(go_r, err_w)
            finally:
                os._exit(125)
        self.pid = pid
        os.close(go_r)
        os.close(err_w)
        for fd in set(stdio):
            os.close(fd)
        if self._console_child is not None:
            self._console_child.close()
            self._receive_console()

    def _receive_console(self) -> None:
        """Wait for the pty master from the container (EOF: its setup failed)."""
        try:
            _msg, fds, _flags, _addr = socket.recv_fds(self.console, 16, 1)
        except OSError:
            fds = []
        self.console.close()
        if fds:
            self.master = fds[0]
            self.outputs[self.master] = protocol.STDOUT

    def _exec_oci_runtime(self, go_r: int, err_w: int) -> None:
        if os.read(go_r, 1) != b"g":
            os._exit(0)
        cfg = self.config
        args = [cfg.runtime, "--root", cfg.runtime_root]
        h = cgroups.hierarchies()
        if os.path.basename(cfg.runtime) == "crun" and h.hybrid() and h.v2:
            # crun refuses a hybrid hierarchy (v1 controllers plus a v2 mount
            # holding controllers, as on this machine).  We are in the shim's
            # private mount namespace: hiding the v2 mount here lets crun see
            # plain v1 and manage the container's groups itself; the host
            # keeps its mount.
            syscalls.umount2(h.v2, syscalls.MNT_DETACH)
        args += ["run", "--bundle", cfg.bundle, cfg.id]
        try:
            os.execvp(cfg.runtime, args)
        except OSError as e:
            os.write(err_w, json.dumps({"message": f"{cfg.runtime}: {e.strerror}", "code": 125}).encode())
            os._exit(125)

    # -- the event loop ----------------------------------------------------------

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self.exited = asyncio.Event()
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        self._reap()
        for fd in self.outputs:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._on_output, fd)
        path = os.path.join(self.config.bundle, "shim.sock")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        with short_path(path) as address:
            server = await asyncio.start_unix_server(self._on_client, path=address)
        _write_atomic(os.path.join(self.config.bundle, "shim.pid"), str(os.getpid()).encode())
        self.hello.sendall(json.dumps({"ok": True, "pid": os.getpid()}).encode() + b"\n")
        self.hello.close()
        ours = os.stat(path).st_ino
        await self.exited.wait()
        # Give waiters that connect just after the end a moment to hear it.
        await asyncio.sleep(0.2)
        server.close()
        # A restarted container has a new shim listening at the same path by
        # now: remove the socket only if it is still ours.
        try:
            if os.stat(path).st_ino == ours:
                os.unlink(path)
        except FileNotFoundError:
            pass

    def _reap(self) -> None:
        # Every child is reaped here, known or not: a PID namespace's init is
        # not reapable until every other process of the namespace has been
        # reaped, failed exec children included.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                self.child_status = status
                self._maybe_finish()
            elif pid in self.execs:
                self.execs.pop(pid).reaped(status)
            elif pid in self.helpers:
                self.helpers.pop(pid).set_result(status)
            else:
                self.unclaimed[pid] = status

    async def _run_helper(self, *args: str) -> tuple[int, bytes]:
        """Run a short helper program (``runc state``); reaped by `_reap`, not asyncio."""
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out = await read_to_eof(proc.stdout.fileno())
        proc.stdout.close()
        if proc.pid in self.unclaimed:
            status = self.unclaimed.pop(proc.pid)
        else:
            fut = asyncio.get_running_loop().create_future()
            self.helpers[proc.pid] = fut
            self._reap()
            status = await fut
        proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen never waits for it again
        return proc.returncode, out

    def _on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO on a pty master once the slave side is gone
            data = b""
        stream = self.outputs[fd]
        if not data:
            asyncio.get_running_loop().remove_reader(fd)
            rest = self.partial.pop(fd, b"")
            if rest:
                self._log(stream, rest)
            del self.outputs[fd]
            os.close(fd)
            if fd == self.master:
                self.master = -1
            self._maybe_finish()
            return
        buf = self.partial.get(fd, b"") + data
        lines = buf.split(b"\n")
        self.partial[fd] = lines.pop()
        for line in lines:
            self._log(stream, line + b"\n")
        if len(self.partial[fd]) >= 16384:
            self._log(stream, self.partial.pop(fd))
        framed = protocol.frame(stream, data)
        for entry in list(self.attached):
            writer, want_out, want_err = entry
            if writer.is_closing():
                self.attached.remove(entry)
                continue
            if (stream == protocol.STDOUT and want_out) or (stream == protocol.STDERR and want_err):
                try:
                    writer.write(framed)
                except (ConnectionError, RuntimeError):
                    self.attached.remove(entry)

    def _log(self, stream: int, data: bytes) -> None:
        if self.log is not None:
            self.log.write("stdout" if stream == protocol.STDOUT else "stderr", data)

    def _maybe_finish(self) -> None:
        if self.child_status is None or self.exit_result is not None:
            return
        if self.outputs:
            # Output still draining: finish when the last pipe reports EOF.  A
            # pipe held open by an escaped daemon process cannot exist: the
            # PID namespace died with its init.  (Not only once "running": a
            # quick process can end before the start request has even been
            # answered, and its output must still reach the log and attach.)
            loop = asyncio.get_running_loop()
            loop.call_later(2.0, self._force_finish)
            return
        self._finish()

    def _force_finish(self) -> None:
        if self.exit_result is None:
            self._finish()

    def _finish(self, error: str = "") -> None:
        for fd in list(self.outputs):
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        self.outputs.clear()
        status = self.child_status or 0
        if os.WIFSIGNALED(status):
            code = 128 + os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
        group_path = self.spec.get("linux", {}).get("cgroupsPath")
        oom = False
        if group_path:
            group = cgroups.Cgroup(group_path)
            oom = group.oom_killed()
            group.remove()
        self.status = "exited"
        self.exit_result = {
            "exit_code": code,
            "oom_killed": oom,
            "finished_at": now_rfc3339(),
            "error": error or self.start_error,
        }
        try:
            _write_atomic(os.path.join(self.config.bundle, "exit.json"), json.dumps(self.exit_result).encode())
        except OSError:
            pass  # the container was removed meanwhile: waiters still get the answer
        for writer, _, _ in self.attached:
            try:
                writer.close()
            except RuntimeError:
                pass
        self.attached.clear()
        if self.log:
            self.log.close()
            self.log = None
        self.exited.set()

    start_error = ""

    # -- requests ----------------------------------------------------------------

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            req = json.loads(line)
            op = req.get("op")
            handler = getattr(self, f"_op_{op}", None)
            if handler is None:
                writer.write(json.dumps({"ok": False, "message": f"unknown op {op!r}"}).encode() + b"\n")
                return
            keep_open = await handler(req, reader, writer)
            if keep_open:
                return
        except (ConnectionError, json.JSONDecodeError):
            pass
        finally:
            if not writer.is_closing() and not getattr(writer, "_dockyard_keep", False):
                try:
                    await writer.drain()
                except ConnectionError:
                    pass
                writer.close()

    def _keep(self, task: asyncio.Task) -> None:
        """Hold a task strongly until it ends (the loop only keeps weak references)."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _reply(self, writer: asyncio.StreamWriter, obj: dict) -> None:
        writer.write(json.dumps(obj).encode() + b"\n")

    async def _op_start(self, req, reader, writer) -> bool:
        if self.status != "created":
            self._reply(writer, {"ok": False, "message": "container already started", "code": 125})
            return False
        os.write(self.go_w, b"g")
        os.close(self.go_w)
        data = await read_to_eof(self.err_r)
        os.close(self.err_r)
        if data:
            err = json.loads(data)
            self.start_error = err["message"]
            self.status = "stopped"
            self._reply(writer, {"ok": False, "message": err["message"], "code": err.get("code", 125)})
            self._maybe_finish()
        else:
            pid = self.pid if self._ours else await self._oci_container_pid()
            self.status = "running"
            self._reply(writer, {"ok": True, "pid": pid})
            self._maybe_finish()
        return False

    async def _oci_container_pid(self, timeout: float = 10.0) -> int:
        """With runc/crun, 'started' must mean the runtime has the container
        running (an exec right after would find nothing otherwise); the pid
        clients see is the container's init, not the runtime's."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and self.child_status is None:
            code, out = await self._run_helper(cfg.runtime, "--root", cfg.runtime_root, "state", cfg.id)
            if code == 0:
                state = json.loads(out)
                if state.get("status") in ("running", "paused", "stopped"):
                    return int(state.get("pid") or self.pid)
            await asyncio.sleep(0.01)
        return self.pid

    async def _op_state(self, req, reader, writer) -> bool:
        self._reply(writer, {"pid": self.pid, "status": self.status, "exit": self.exit_result})
        return False

    async def _op_kill(self, req, reader, writer) -> bool:
        try:
            if req.get("exec"):
                session = self.exec_ids.get(req["exec"])
                if session is not None and session.pid:
                    os.kill(session.pid, int(req.get("signal", signal.SIGKILL)))
            elif self.child_status is None:  # once reaped, the pid may belong to someone else
                os.kill(self.pid, int(req.get("signal", signal.SIGKILL)))
            self._reply(writer, {"ok": True})
        except ProcessLookupError:
            self._reply(writer, {"ok": True})
        return False

    async def _op_wait(self, req, reader, writer) -> bool:
        await self.exited.wait()
        self._reply(writer, self.exit_result)
        return False

    async def _op_exec(self, req, reader, writer) -> bool:
        if self.status != "running" or self.exit_result is not None:
            self._reply(writer, {"ok": False, "message": f"container {self.config.id} is not running"})
            return False
        session = ExecSession(req["id"], req["process"], bool(req.get("stdin")), writer)
        runtime = None if self._ours else [self.config.runtime, "--root", self.config.runtime_root]
        try:
            await session.start(self.pid, self.spec.get("linux", {}).get("cgroupsPath"), runtime,
                                self.config.bundle, self.config.id)
        except (OSError, RuntimeError) as e:
            self._reply(writer, {"ok": False, "message": str(e)})
            return False
        self.execs[session.pid] = session
        self.exec_ids[session.id] = session
        session.done_callback = lambda: self.exec_ids.pop(session.id, None)
        self._reply(writer, {"ok": True, "pid": session.pid})
        session.serve(reader)
        writer._dockyard_keep = True  # type: ignore[attr-defined]
        return True

    async def _op_resize(self, req, reader, writer) -> bool:
        if req.get("exec"):
            session = self.exec_ids.get(req["exec"])
            if session is not None:
                session.resize(int(req["h"]), int(req["w"]))
            self._reply(writer, {"ok": True})
            return False
        if self.master >= 0:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", int(req["h"]), int(req["w"]), 0, 0))
        self._reply(writer, {"ok": True})
        return False

    async def _op_attach(self, req, reader, writer) -> bool:
        if self.exit_result is not None:
            self._reply(writer, {"ok": True})
            return False
        self._reply(writer, {"ok": True})
        entry = (writer, bool(req.get("stdout")), bool(req.get("stderr")))
        self.attached.append(entry)
        if req.get("stdin") and (self.stdin_w >= 0 or self.master >= 0):
            self._keep(asyncio.get_running_loop().create_task(self._pump_stdin(reader, entry)))
        else:
            self._keep(asyncio.get_running_loop().create_task(self._watch_detach(reader, entry)))
        writer._dockyard_keep = True  # type: ignore[attr-defined]
        return True

    async def _pump_stdin(self, reader: asyncio.StreamReader, entry) -> None:
        await copy_to_fd(reader, self.master if self.config.terminal else self.stdin_w)
        if not self.config.terminal and self.config.stdin_once and self.stdin_w >= 0:
            os.close(self.stdin_w)
            self.stdin_w = -1
        elif self.config.terminal and self.config.stdin_once and self.master >= 0:
            await write_fd(self.master, b"\x04")  # EOF at the tty's line discipline

    async def _watch_detach(self, reader: asyncio.StreamReader, entry) -> None:
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        # the daemon closed this attach: stop writing to it
        if entry in self.attached:
            self.attached.remove(entry)
            entry[0].close()


def run(config: ShimConfig, hello: socket.socket) -> None:
    """Entry point in the freshly forked shim process; never returns.

    The shim's own failures go to ``shim.log`` in the bundle: it has no
    terminal, and the daemon may not be there to hear about them.
    """
    code = 0
    try:
        syscalls.set_process_name("dockyard-shim", f"dockyard-shim {config.id}")
        devnull = os.open("/dev/null", os.O_RDWR)
        os.dup2(devnull, 0)
        log_fd = os.open(os.path.join(config.bundle, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(devnull)
        os.close(log_fd)
        for fd in open_fds():
            if fd > 2 and fd != hello.fileno():
                try:
                    os.close(fd)
                except OSError:
                    pass
        shim = Shim(config, hello)
        try:
            shim.setup()
        except Exception as e:  # noqa: BLE001 - reported to the daemon, which reports it to the user
            traceback.print_exc()
            hello.sendall(json.dumps({"ok": False, "message": f"shim setup: {e}"}).encode() + b"\n")
            os._exit(1)
        asyncio.run(shim.serve())
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        code = 1
    os._exit(code)
