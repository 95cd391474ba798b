"""Shared fixtures: a real dockyardd on a temporary socket and data root.

The daemon is started once per test session (starting it is cheap, but the
busybox image is built once); each test module that needs a daemon takes
the `daemon` fixture.  Cleanup is unconditional: every container is removed,
the daemon stopped, any shim of this data root killed and anything mounted
under it unmounted, even when tests fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

from unixhttp import UnixHTTPConnection

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")


def _bin(name: str) -> str:
    path = os.path.join(VENV_BIN, name)
    return path if os.path.exists(path) else shutil.which(name) or name


@dataclass
class Daemon:
    root: str
    socket: str
    data_root: str
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        log = open(os.path.join(self.root, "daemon.log"), "ab")
        self.proc = subprocess.Popen(
            [_bin("dockyardd"), "--data-root", self.data_root, "--host", self.host],
            stdout=log, stderr=log,
        )
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.ping():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("dockyardd did not start:\n" + self.log_tail())

    def ping(self) -> bool:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.settimeout(1)
            s.connect(self.socket)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
        finally:
            s.close()

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(os.path.join(self.root, "daemon.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
        env = dict(os.environ, DOCKYARD_HOST=self.host)
        return subprocess.run([_bin("dockyard"), *args], input=input, capture_output=True, timeout=timeout, env=env, check=check)

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        env = dict(os.environ, DOCKER_HOST=self.host)
        env.pop("DOCKER_CONTEXT", None)
        return subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout, env=env)

    def cleanup(self) -> None:
        """Kill every shim and container of this data root and unmount what is left."""
        containers = os.path.join(self.data_root, "containers")
        for cid in os.listdir(containers) if os.path.isdir(containers) else []:
            try:
                with open(os.path.join(containers, cid, "shim.pid")) as f:
                    os.kill(int(f.read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            _remove_cgroup(cid)
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f if self.root in line]
        for m in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        self._remove_network_state()

    def _remove_network_state(self) -> None:
        """This daemon's bridges (from its records), its veths and its nftables table."""
        import sqlite3

        db = os.path.join(self.data_root, "metadata.db")
        bridges: list[str] = []
        if os.path.exists(db):
            try:
                with sqlite3.connect(db) as conn:
                    bridges = [r[0] for r in conn.execute("SELECT bridge FROM networks WHERE bridge != ''")]
            except sqlite3.Error:
                pass
        for bridge in bridges:
            subprocess.run(["ip", "link", "delete", bridge], capture_output=True)
        from dockyard.paths import DataRoot
        from dockyard.wiring import _network_instance

        tag = _network_instance(DataRoot(self.data_root))
        subprocess.run(["nft", "delete", "table", "ip", f"dockyard_{tag}" if tag else "dockyard"], capture_output=True)


def _remove_cgroup(cid: str) -> None:
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        for entry in os.listdir(base) if os.path.isdir(base) else []:
            d = os.path.join(base, entry, "dockyard", cid)
            if os.path.isdir(d):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


@pytest.fixture(scope="session")
def daemon():
    root = tempfile.mkdtemp(prefix="dockyard-test-")
    d = Daemon(root=root, socket=os.path.join(root, "dockyard.sock"), data_root=os.path.join(root, "data"))
    try:
        d.start()
        env = dict(os.environ, DOCKYARD_HOST=d.host, DOCKYARD=_bin("dockyard"))
        r = subprocess.run([os.path.join(REPO, "contrib", "mkimage.sh"), "busybox"], env=env, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"mkimage.sh busybox failed: {r.stdout.decode()} {r.stderr.decode()}")
        yield d
    finally:
        try:
            if d.proc and d.proc.poll() is None:
                ids = d.cli("ps", "-aq").stdout.split()
                if ids:
                    d.cli("rm", "-f", *[i.decode() for i in ids])
        finally:
            d.stop()
            d.cleanup()
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def api(daemon):
    """api("POST", "/containers/create", {...}) → (status, decoded JSON or raw bytes, response)."""

    def call(method: str, path: str, body=None, headers=None):
        conn = UnixHTTPConnection(daemon.socket)
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw
        return resp.status, payload, resp

    return call


@pytest.fixture
def own_daemon(daemon, tmp_path):
    """A second daemon with its own data root and busybox, for tests that kill daemons."""
    d = Daemon(root=str(tmp_path), socket=str(tmp_path / "d.sock"), data_root=str(tmp_path / "data"))
    d.start()
    try:
        env = dict(os.environ, DOCKYARD_HOST=d.host, DOCKYARD=_bin("dockyard"))
        subprocess.run([os.path.join(REPO, "contrib", "mkimage.sh"), "busybox"], env=env, check=True, capture_output=True)
        yield d
    finally:
        if d.proc is None or d.proc.poll() is not None:
            d.start()
        for cid in d.cli("ps", "-aq").stdout.split():
            d.cli("rm", "-f", cid.decode())
        d.stop()
        d.cleanup()


@pytest.fixture
def dy(daemon):
    """Run our CLI against the test daemon: dy("run", "--rm", "busybox", "true")."""
    return daemon.cli
