"""One ``docker exec`` inside a running container, as the shim runs it.

The daemon asks with ``{"op": "exec", "id", "process", "stdin"}`` (see
protocol.py); that connection then carries the exec's stream: frames of
stdout/stderr to the daemon, raw stdin from it, and a last `EXIT` frame with
``{"exit_code": N}`` once the process has ended and its output is drained.
A detached exec keeps the connection only to learn that exit.

With our runtime the child joins the container's namespaces itself
(`runtime.linux.enter`): the shim's PID namespace for children already is
the container's.  With runc or crun the child runs ``<runtime> exec`` on a
process.json, as containerd's shim does.
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
import termios

from ..runtime import linux
from . import protocol
from .fdio import copy_to_fd, open_fds, read_to_eof, readable


def close_other_fds(keep: set[int]) -> None:
    for fd in open_fds():
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


class ExecSession:
    def __init__(self, exec_id: str, process: dict, want_stdin: bool, writer: asyncio.StreamWriter):
        self.id = exec_id
        self.process = process
        self.terminal = bool(process.get("terminal"))
        self.want_stdin = want_stdin
        self.writer = writer
        self.pid = 0
        self.master = -1
        self.stdin_w = -1
        self.outputs: dict[int, int] = {}
        self.status: int | None = None
        self.done = asyncio.Event()
        self.done_callback = None
        self.stdin_task: asyncio.Task | None = None

    # -- starting ------------------------------------------------------------------

    async def start(self, container_pid: int, cgroups_path: str | None, runtime: list[str] | None,
                    bundle: str, container_id: str) -> None:
        """Fork the exec'd process and wait until it has exec'd; RuntimeError
        with the reason when it could not start."""
        console_ours = console_theirs = None
        devnull = os.open("/dev/null", os.O_RDWR)
        if self.terminal and runtime is None:
            console_ours, console_theirs = socket.socketpair()
            stdio = (devnull, devnull, devnull)
        elif self.terminal:
            self.master, slave = pty.openpty()
            self.outputs[self.master] = protocol.STDOUT
            stdio = (slave, slave, slave)
        else:
            stdin_r = devnull
            if self.want_stdin:
                stdin_r, self.stdin_w = os.pipe()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            self.outputs[out_r] = protocol.STDOUT
            self.outputs[err_r] = protocol.STDERR
            stdio = (stdin_r, out_w, err_w)
        err_r_, err_w_ = os.pipe2(os.O_CLOEXEC)
        process_file = None
        if runtime is not None:
            process_file = os.path.join(bundle, f"exec-{self.id}.json")
            with open(process_file, "w") as f:
                json.dump(self.process, f)
        pid = os.fork()
        if pid == 0:
            try:
                for i, fd in enumerate(stdio):
                    os.dup2(fd, i)
                console = console_theirs.fileno() if console_theirs is not None else -1
                close_other_fds({0, 1, 2, err_w_, console})
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                if runtime is None:
                    linux.enter(container_pid, self.process, cgroups_path, err_w_, console)
                else:
                    args = [*runtime, "exec", "--process", process_file]
                    if self.terminal:
                        args.append("--tty")
                    args.append(container_id)
                    os.execvp(args[0], args)
            except BaseException as e:  # noqa: BLE001
                try:
                    os.write(err_w_, json.dumps({"message": str(e), "code": 126}).encode())
                finally:
                    os._exit(126)
            os._exit(126)
        self.pid = pid
        os.close(err_w_)
        for fd in set(stdio) | {devnull}:
            try:
                os.close(fd)
            except OSError:
                pass
        if console_theirs is not None:
            console_theirs.close()
            await readable(console_ours.fileno())
            try:
                _msg, fds, _flags, _addr = socket.recv_fds(console_ours, 16, 1)
            except OSError:
                fds = []
            console_ours.close()
            if fds:
                self.master = fds[0]
                self.outputs[self.master] = protocol.STDOUT
        error = await read_to_eof(err_r_)
        os.close(err_r_)
        if error:
            for fd in list(self.outputs):
                os.close(fd)
            self.outputs.clear()
            raise RuntimeError(json.loads(error).get("message", "exec failed"))

    # -- running -------------------------------------------------------------------

    def serve(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        for fd in self.outputs:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._on_output, fd)
        if self.want_stdin and (self.stdin_w >= 0 or self.master >= 0):
            self.stdin_task = loop.create_task(self._pump_stdin(reader))  # held: the loop keeps tasks weakly

    def _on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(fd)
            del self.outputs[fd]
            os.close(fd)
            if fd == self.master:
                self.master = -1
            self._maybe_finish()
            return
        try:
            self.writer.write(protocol.frame(self.outputs[fd], data))
        except (ConnectionError, RuntimeError):
            pass

    async def _pump_stdin(self, reader: asyncio.StreamReader) -> None:
        await copy_to_fd(reader, self.master if self.terminal else self.stdin_w)
        if not self.terminal and self.stdin_w >= 0:
            os.close(self.stdin_w)
            self.stdin_w = -1

    def reaped(self, status: int) -> None:
        self.status = status
        self._maybe_finish()
        if self.outputs and not self.done.is_set():
            # a grandchild may hold the pipes open: do not wait for it forever
            asyncio.get_running_loop().call_later(2.0, self._force_finish)

    def _force_finish(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in list(self.outputs):
            loop.remove_reader(fd)
            os.close(fd)
        self.outputs.clear()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self.status is None or self.outputs or self.done.is_set():
            return
        if os.WIFSIGNALED(self.status):
            code = 128 + os.WTERMSIG(self.status)
        else:
            code = os.WEXITSTATUS(self.status)
        if self.stdin_w >= 0:
            os.close(self.stdin_w)
            self.stdin_w = -1
        try:
            self.writer.write(protocol.frame(protocol.EXIT, json.dumps({"exit_code": code}).encode()))
            self.writer.close()
        except (ConnectionError, RuntimeError):
            pass
        self.done.set()
        if self.done_callback is not None:
            self.done_callback()

    def resize(self, height: int, width: int) -> None:
        if self.master >= 0:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
