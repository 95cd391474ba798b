"""A container outlives its daemon: kill -9 dockyardd, start it again, keep going."""

from __future__ import annotations

import os
import signal
import time


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
