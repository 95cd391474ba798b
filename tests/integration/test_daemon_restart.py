"""A container outlives its daemon: kill -9 dockyardd, start it again, keep going."""

from __future__ import annotations

import os
import signal
import time

import pytest

from conftest import Daemon, REPO, _bin


@pytest.fixture
def own_daemon(daemon, tmp_path):
    """A second daemon with its own data root, sharing nothing with the session one."""
    d = Daemon(root=str(tmp_path), socket=str(tmp_path / "d.sock"), data_root=str(tmp_path / "data"))
    d.start()
    try:
        # copy the busybox image in through export of the session daemon's image
        # would need save/load; mkimage is quick enough
        import subprocess

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


def test_container_survives_daemon_kill(own_daemon):
    d = own_daemon
    r = d.cli("run", "-d", "--name", "survivor", "busybox", "sh", "-c", "echo before; sleep 300")
    assert r.returncode == 0, r.stderr
    time.sleep(0.3)
    pid = int(d.cli("inspect", "-f", "{{.State.Pid}}", "survivor").stdout)
    d.stop(signal.SIGKILL)
    os.kill(pid, 0)  # still running without a daemon
    d.start()
    assert d.cli("inspect", "-f", "{{.State.Status}}", "survivor").stdout == b"running\n"
    assert d.cli("logs", "survivor").stdout == b"before\n"
    started = time.time()
    assert d.cli("stop", "-t", "1", "survivor").returncode == 0
    assert time.time() - started < 5
    assert d.cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "survivor").stdout == b"exited 137\n"
    assert d.cli("rm", "survivor").returncode == 0


def test_exit_while_daemon_down_is_recorded(own_daemon):
    d = own_daemon
    d.cli("run", "-d", "--name", "shortlived", "busybox", "sh", "-c", "sleep 1; exit 5")
    d.stop(signal.SIGKILL)
    time.sleep(1.8)
    d.start()
    assert d.cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "shortlived").stdout == b"exited 5\n"
    assert d.cli("wait", "shortlived").stdout == b"5\n"
