"""The fork server: forks shims for the daemon from a clean, single-threaded process.

Namespaces cannot be entered safely from a threaded process, and starting a
new interpreter per container costs tens of milliseconds.  So the daemon
forks this server first thing, before its event loop or any thread exists;
the server has the runtime and shim code imported and does nothing but fork.

Protocol on the socketpair (one request at a time): the daemon sends a JSON
`ShimConfig` line with one file descriptor attached (SCM_RIGHTS), the
"hello" socket the new shim reports on.  The server forks an intermediate
child that forks the shim and exits at once, so the shim is orphaned
(re-parented to init) and outlives both the server and the daemon; the server
reaps the intermediate and answers ``ok``.  When the daemon goes away the
socket reads EOF and the server exits; the shims stay.
"""

from __future__ import annotations

import json
import os
import signal
import socket

from . import shim


class ForkServer:
    """Daemon-side handle: start the server process, ask it to spawn shims."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.pid = 0

    def start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            parent.close()
            try:
                _serve(child)
            finally:
                os._exit(0)
        child.close()
        self.sock = parent
        self.pid = pid

    def spawn(self, config: dict, hello: socket.socket) -> None:
        """Blocking: ask for a shim; returns once it is forked."""
        assert self.sock is not None
        socket.send_fds(self.sock, [json.dumps(config).encode()], [hello.fileno()])
        reply = self.sock.recv(4096)
        if reply != b"ok":
            raise OSError(f"fork server: {reply.decode(errors='replace') or 'gone'}")

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.pid:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = 0


def _serve(sock: socket.socket) -> None:
    from ..runtime.syscalls import set_process_name

    set_process_name("dockyard-forks", "dockyardd fork server")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.setpgid(0, 0)  # a ^C at the daemon's terminal is the daemon's business
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 1)
        except OSError:
            return
        if not msg:
            return
        try:
            config = shim.ShimConfig.from_json(json.loads(msg))
            pid = os.fork()
            if pid == 0:
                try:
                    sock.close()
                    os.setsid()
                    if os.fork() == 0:
                        hello = socket.socket(fileno=fds[0])
                        shim.run(config, hello)
                finally:
                    os._exit(0)
            for fd in fds:
                os.close(fd)
            os.waitpid(pid, 0)
            sock.send(b"ok")
        except Exception as e:  # noqa: BLE001 - report and keep serving
            sock.send(f"error: {e}".encode())
