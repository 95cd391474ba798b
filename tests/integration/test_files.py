"""cp (symlink-safe both ways), diff, export, commit and system df through the docker CLI."""

from __future__ import annotations

import io
import os
import tarfile

import pytest


def out(r) -> str:
    return r.stdout.decode().strip()


@pytest.fixture
def box(daemon):
    r = daemon.docker("run", "-d", "--name", "t-files", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    daemon.docker("exec", "t-files", "sh", "-c", "ln -s / /escape; mkdir -p /data; echo secret > /data/f")
    yield "t-files"
    daemon.docker("rm", "-f", "t-files")


def test_cp_into_a_container_cannot_escape_through_its_symlinks(daemon, box, tmp_path):
    payload = tmp_path / "payload"
    payload.write_text("host\n")
    marker = f"/tmp/dockyard-cp-escape-{os.getpid()}"
    r = daemon.docker("cp", str(payload), f"{box}:/escape{marker}")
    assert not os.path.exists(marker), "cp followed a container symlink onto the host"
    if r.returncode == 0:  # it landed inside the container instead
        assert out(daemon.docker("exec", box, "cat", marker)) == "host"


def test_cp_out_cannot_read_through_a_symlink_to_the_host(daemon, box, tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("do not read\n")
    daemon.docker("exec", box, "ln", "-s", str(secret), "/leak")
    daemon.docker("cp", f"{box}:/leak/", str(tmp_path / "got"))
    got = tmp_path / "got"
    assert not (got.exists() and got.read_text() == "do not read\n")


def test_cp_both_ways_and_errors(daemon, box, tmp_path):
    assert daemon.docker("cp", f"{box}:/data/f", str(tmp_path / "f")).returncode == 0
    assert (tmp_path / "f").read_text() == "secret\n"
    (tmp_path / "in").write_text("in\n")
    assert daemon.docker("cp", str(tmp_path / "in"), f"{box}:/data/in").returncode == 0
    assert out(daemon.docker("exec", box, "cat", "/data/in")) == "in"
    # a directory, and a tar stream on stdout
    r = daemon.docker("cp", f"{box}:/data", "-")
    names = tarfile.open(fileobj=io.BytesIO(r.stdout)).getnames()
    assert "data/f" in names and "data/in" in names
    r = daemon.docker("cp", f"{box}:/nonexistent", str(tmp_path / "x"))
    assert r.returncode == 1 and b"Could not find the file /nonexistent" in r.stderr
    assert not (tmp_path / "x").exists()
    r = daemon.docker("cp", str(tmp_path / "in"), f"{box}:/no/such/dir/")
    assert r.returncode == 1


def test_cp_from_a_stopped_container(daemon, box, tmp_path):
    daemon.docker("stop", "-t", "0", box)
    assert daemon.docker("cp", f"{box}:/data/f", str(tmp_path / "f")).returncode == 0
    assert (tmp_path / "f").read_text() == "secret\n"


def test_diff_commit_export(daemon, box):
    lines = out(daemon.docker("diff", box)).splitlines()
    assert "A /data/f" in lines and "A /escape" in lines
    r = daemon.docker("commit", "-c", 'CMD ["cat", "/data/f"]', "-m", "snapshot", box, "t-committed:v1")
    assert r.returncode == 0, r.stderr
    try:
        assert out(daemon.docker("run", "--rm", "t-committed:v1")) == "secret"
        history = out(daemon.docker("history", "--format", "{{.Comment}}", "t-committed:v1")).splitlines()
        assert history[0] == "snapshot"
    finally:
        daemon.docker("rmi", "t-committed:v1")
    r = daemon.docker("export", box)
    names = tarfile.open(fileobj=io.BytesIO(r.stdout)).getnames()
    assert "data/f" in names and "bin/busybox" in names


def test_system_df(daemon, box):
    r = daemon.docker("system", "df")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in out(r).splitlines()[1:]}
    assert set(rows) >= {"Images", "Containers", "Local", "Build"}


def test_ps_size_counts_the_writable_layer(daemon):
    daemon.docker("run", "--name", "t-size", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /f")
    try:
        size = out(daemon.docker("ps", "-as", "--filter", "name=t-size", "--format", "{{.Size}}"))
        assert size.startswith("100kB (virtual "), size
    finally:
        daemon.docker("rm", "t-size")
