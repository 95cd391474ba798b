"""pause/unpause, top, update and stats on running containers."""

from __future__ import annotations

import json
import os

import pytest


def out(r) -> str:
    return r.stdout.decode().strip()


@pytest.fixture
def busy(daemon):
    r = daemon.docker("run", "-d", "--name", "t-res", "-m", "64m", "busybox", "sh", "-c", "while true; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    cid = out(r)
    yield cid
    daemon.docker("rm", "-f", cid)


def _cgroup(controller: str, cid: str, name: str) -> str:
    with open(f"/sys/fs/cgroup/{controller}/dockyard/{cid}/{name}") as f:
        return f.read().strip()


def test_pause_unpause(daemon, busy):
    assert daemon.docker("pause", "t-res").returncode == 0
    assert out(daemon.docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "t-res")) == "paused true"
    assert "(Paused)" in out(daemon.docker("ps", "--format", "{{.Status}}", "--filter", "name=t-res"))
    if os.path.exists(f"/sys/fs/cgroup/freezer/dockyard/{busy}"):
        assert _cgroup("freezer", busy, "freezer.state") == "FROZEN"
    r = daemon.docker("exec", "t-res", "true")
    assert r.returncode != 0 and b"paused" in r.stderr
    assert daemon.docker("pause", "t-res").returncode == 1  # already paused
    assert daemon.docker("unpause", "t-res").returncode == 0
    assert out(daemon.docker("inspect", "-f", "{{.State.Status}}", "t-res")) == "running"


def test_stop_a_paused_container(daemon, busy):
    daemon.docker("pause", "t-res")
    assert daemon.docker("stop", "-t", "1", "t-res").returncode == 0
    assert out(daemon.docker("inspect", "-f", "{{.State.Status}}", "t-res")) == "exited"


def test_top_lists_only_the_containers_processes(daemon, busy):
    r = daemon.docker("top", "t-res")
    lines = out(r).splitlines()
    assert lines[0].split()[:3] == ["UID", "PID", "PPID"]
    assert any("while true" in line for line in lines[1:])
    assert len(lines) <= 4


def test_update_limits_on_a_running_container(daemon, busy):
    assert daemon.docker("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "50", "--cpus", "0.5", "t-res").returncode == 0
    if os.path.exists(f"/sys/fs/cgroup/memory/dockyard/{busy}"):
        assert _cgroup("memory", busy, "memory.limit_in_bytes") == str(128 << 20)
        assert _cgroup("pids", busy, "pids.max") == "50"
        assert _cgroup("cpu", busy, "cpu.cfs_quota_us") == "50000"
    hc = json.loads(daemon.docker("inspect", "t-res").stdout)[0]["HostConfig"]
    assert hc["Memory"] == 128 << 20 and hc["PidsLimit"] == 50
    # beyond what is allowed: refused, the old limit stays
    r = daemon.docker("update", "--memory", "1m", "t-res")
    assert r.returncode == 1
    if os.path.exists(f"/sys/fs/cgroup/memory/dockyard/{busy}"):
        assert _cgroup("memory", busy, "memory.limit_in_bytes") == str(128 << 20)


def test_stats(daemon, busy):
    r = daemon.docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "t-res")
    assert r.returncode == 0, r.stderr
    name, usage, _slash, limit, pids = out(r).split()
    assert name == "t-res" and limit == "64MiB" and int(pids) >= 1
    status, doc = _api_stats(daemon, busy)
    assert doc["memory_stats"]["limit"] == 64 << 20
    assert doc["cpu_stats"]["cpu_usage"]["total_usage"] > 0 and doc["precpu_stats"]["cpu_usage"]["total_usage"] > 0


def _api_stats(daemon, cid):
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(daemon.socket)

    c = Conn("localhost", timeout=10)
    c.request("GET", f"/containers/{cid}/stats?stream=false")
    resp = c.getresponse()
    return resp.status, json.loads(resp.read())
