"""Volumes, bind mounts and tmpfs in real containers, through the docker CLI."""

from __future__ import annotations

import json
import os

import pytest


def out(r) -> str:
    return r.stdout.decode().strip()


@pytest.fixture
def dk(daemon):
    return daemon.docker


def test_named_volume_keeps_data_across_containers(dk):
    assert dk("volume", "create", "t-keep").returncode == 0
    try:
        assert dk("run", "--rm", "-v", "t-keep:/data", "busybox", "sh", "-c", "echo kept > /data/f").returncode == 0
        assert out(dk("run", "--rm", "-v", "t-keep:/data", "busybox", "cat", "/data/f")) == "kept"
        r = dk("run", "--rm", "-v", "t-keep:/data:ro", "busybox", "touch", "/data/g")
        assert r.returncode != 0 and b"Read-only file system" in r.stderr
    finally:
        dk("volume", "rm", "t-keep")


def test_guide_backup_and_restore(dk, tmp_path):
    """The reference guide's section 12: back up a volume, delete it, restore into a new one."""
    backup = tmp_path / "backup"
    backup.mkdir()
    dk("volume", "create", "t-vol")
    dk("run", "--rm", "-v", "t-vol:/data", "busybox", "sh", "-c", "echo precious > /data/x")
    r = dk("run", "--rm", "-v", "t-vol:/data", "-v", f"{backup}:/backup", "busybox", "tar", "czf", "/backup/backup.tar.gz", "/data")
    assert r.returncode == 0, r.stderr
    assert (backup / "backup.tar.gz").stat().st_size > 0
    assert dk("volume", "rm", "t-vol").returncode == 0
    dk("volume", "create", "t-vol2")
    try:
        dk("run", "--rm", "-v", "t-vol2:/data", "-v", f"{backup}:/backup", "busybox", "sh", "-c", "cd / && tar xzf /backup/backup.tar.gz")
        assert out(dk("run", "--rm", "-v", "t-vol2:/data", "busybox", "cat", "/data/x")) == "precious"
    finally:
        dk("volume", "rm", "t-vol2")


def test_volume_in_use_cannot_be_removed(dk):
    dk("run", "-d", "--name", "t-user", "-v", "t-busy:/data", "busybox", "sleep", "60")
    try:
        r = dk("volume", "rm", "t-busy")
        assert r.returncode == 1 and b"volume is in use" in r.stderr
    finally:
        dk("rm", "-f", "t-user")
    assert dk("volume", "rm", "t-busy").returncode == 0


def test_copy_up_fills_a_new_volume_from_the_image(dk):
    try:
        r = dk("run", "--rm", "--hostname", "cu", "-v", "t-etc:/etc", "busybox", "sh", "-c", "cat /etc/passwd | head -1; cat /etc/hostname")
        assert out(r).splitlines() == ["root:x:0:0:root:/root:/bin/sh", "cu"]
    finally:
        dk("volume", "rm", "t-etc")


def test_anonymous_volumes_go_with_rm_v_and_run_rm(dk):
    before = set(out(dk("volume", "ls", "-q")).split())
    dk("run", "--name", "t-anon", "-v", "/scratch", "busybox", "sh", "-c", "echo x > /scratch/f")
    info = json.loads(dk("inspect", "t-anon").stdout)[0]
    [mount] = info["Mounts"]
    assert mount["Type"] == "volume" and mount["Destination"] == "/scratch" and len(mount["Name"]) == 64
    assert os.path.exists(os.path.join(mount["Source"], "f"))
    assert dk("rm", "-v", "t-anon").returncode == 0
    dk("run", "--rm", "-v", "/other", "busybox", "true")
    assert set(out(dk("volume", "ls", "-q")).split()) == before


def test_bind_mounts(dk, tmp_path):
    missing = tmp_path / "made-by-v"
    assert dk("run", "--rm", "-v", f"{missing}:/m", "busybox", "touch", "/m/file").returncode == 0
    assert (missing / "file").exists()  # -v creates a missing host directory
    r = dk("run", "--rm", "--mount", f"type=bind,source={tmp_path}/nope,target=/x", "busybox", "true")
    assert r.returncode == 125 and b"bind source path does not exist" in r.stderr
    (tmp_path / "ro").mkdir()
    r = dk("run", "--rm", "--mount", f"type=bind,source={tmp_path}/ro,target=/ro,readonly", "busybox", "touch", "/ro/x")
    assert r.returncode != 0


def test_tmpfs(dk):
    r = dk("run", "--rm", "--tmpfs", "/scratch:size=1m,mode=1777", "busybox", "sh", "-c", "grep ' /scratch ' /proc/mounts; stat -c %a /scratch")
    line, mode = out(r).splitlines()
    assert line.split()[2] == "tmpfs" and "size=1024k" in line and mode == "1777"
    r = dk("run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=2m", "busybox", "grep", " /t ", "/proc/mounts")
    assert "size=2048k" in out(r)


def test_volumes_from(dk):
    dk("run", "--name", "t-source", "-v", "t-shared:/shared", "busybox", "sh", "-c", "echo from-source > /shared/f")
    try:
        r = dk("run", "--rm", "--volumes-from", "t-source", "busybox", "cat", "/shared/f")
        assert out(r) == "from-source", (r.returncode, r.stderr)
    finally:
        dk("rm", "t-source")
        dk("volume", "rm", "t-shared")


def test_bad_volume_names(dk, daemon):
    r = dk("volume", "create", "bad/name")
    assert r.returncode != 0 and b"includes invalid characters" in r.stderr
    # through the API, where no client turns a relative path into an absolute one
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(daemon.socket)

    for bad in ("../escape:/x", "a/..:/x"):
        c = Conn("localhost", timeout=10)
        body = json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": [bad]}})
        c.request("POST", "/containers/create", body=body, headers={"Content-Type": "application/json"})
        resp = c.getresponse()
        assert resp.status == 400, resp.read()
        assert b"invalid characters" in resp.read()
