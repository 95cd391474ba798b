"""dockyardd: the daemon's entry point.

The order of start-up matters: the fork server is forked first, while this
process has no threads, no event loop and no open database, so every shim
it forks later starts from a clean copy (DESIGN.md, "Process model").
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import socket
import sys

from .. import __version__

DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"

log = logging.getLogger("dockyard")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyardd", description="The dockyard daemon: serves the Docker Engine API.")
    p.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="where images, containers and metadata live (default %(default)s)")
    p.add_argument("-H", "--host", default=DEFAULT_HOST, help="socket to listen on (default %(default)s)")
    p.add_argument("-D", "--debug", action="store_true", help="log debug messages")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warn", "error"])
    p.add_argument("-v", "--version", action="version", version=f"dockyardd {__version__}")
    return p.parse_args(argv)


def socket_path(host: str) -> str:
    if not host.startswith("unix://"):
        raise SystemExit(f"dockyardd: only unix:// sockets are supported, not {host!r}")
    return host[len("unix://"):]


def _lock_data_root(root: str) -> int:
    os.makedirs(root, mode=0o711, exist_ok=True)
    fd = os.open(os.path.join(root, "dockyardd.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"dockyardd: another daemon is using the data root {root}") from None
    # The lock file names the daemon's pid: stop it by pid, never with
    # `pkill -f`, which cannot tell the daemon from other processes.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _prepare_socket(path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # stale: nobody answers
        else:
            raise SystemExit(f"dockyardd: a daemon already listens on {path}")
        finally:
            probe.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    level = logging.DEBUG if args.debug else getattr(logging, args.log_level.upper().replace("WARN", "WARNING"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if os.geteuid() != 0:
        raise SystemExit("dockyardd: must run as root (namespaces, mounts and cgroups need it)")
    data_root = os.path.abspath(args.data_root)
    path = socket_path(args.host)
    lock_fd = _lock_data_root(data_root)

    from ..shim.forkserver import ForkServer

    forkserver = ForkServer()
    forkserver.start()
    try:
        asyncio.run(_serve(data_root, path, forkserver))
    finally:
        forkserver.stop()
        os.close(lock_fd)


async def _serve(data_root: str, path: str, forkserver) -> None:
    from .. import wiring
    from .http import serve_unix

    daemon = wiring.build(data_root, forkserver)
    await daemon.networks.start()
    await daemon.containers.restore()
    await asyncio.to_thread(daemon.networks.apply_rules)  # with what restore found running
    _prepare_socket(path)
    server = await serve_unix(daemon.router, path)
    os.chmod(path, 0o660)
    log.info("dockyardd %s listening on unix://%s (data root %s)", __version__, path, data_root)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down; running containers keep running")
        server.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        await daemon.containers.shutdown()
        await daemon.networks.shutdown()
        daemon.close()
