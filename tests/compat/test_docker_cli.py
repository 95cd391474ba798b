"""The unmodified docker CLI (v28) pointed at dockyardd."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")


def test_run_echo(daemon):
    r = daemon.docker("run", "--rm", "busybox", "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello\n"


def test_exit_code_and_missing_command(daemon):
    assert daemon.docker("run", "--rm", "busybox", "sh", "-c", "exit 4").returncode == 4
    r = daemon.docker("run", "--rm", "busybox", "/nonexistent")
    assert r.returncode == 127, r.stderr


def test_unknown_image(daemon):
    r = daemon.docker("run", "--rm", "nosuchimage:v9", "true")
    assert r.returncode == 125
    assert b"nosuchimage" in r.stderr


def test_detached_ps_logs_inspect_stop_rm(daemon):
    r = daemon.docker("run", "-d", "--name", "dk-web", "busybox", "sh", "-c", "echo ready; sleep 300")
    assert r.returncode == 0, r.stderr
    try:
        time.sleep(0.3)
        assert "dk-web" in daemon.docker("ps", "--format", "{{.Names}}").stdout.decode().split()
        table = daemon.docker("ps").stdout.decode().splitlines()
        assert table[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"]
        assert daemon.docker("inspect", "-f", "{{.State.Status}}", "dk-web").stdout == b"running\n"
        assert daemon.docker("logs", "dk-web").stdout == b"ready\n"
        assert daemon.docker("stop", "-t", "1", "dk-web").returncode == 0
        assert daemon.docker("rm", "dk-web").returncode == 0
    finally:
        daemon.docker("rm", "-f", "dk-web")


def test_logs_follow(daemon):
    daemon.docker("run", "-d", "--name", "dk-follow", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done")
    try:
        r = daemon.docker("logs", "-f", "dk-follow", timeout=20)
        assert r.stdout == b"1\n2\n3\n"
    finally:
        daemon.docker("rm", "-f", "dk-follow")


def test_images_and_version(daemon):
    r = daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert "busybox:latest" in r.stdout.decode().split()
    r = daemon.docker("version", "--format", "{{.Server.APIVersion}}")
    assert r.returncode == 0, r.stderr


def test_stdin_and_tty(daemon):
    r = daemon.docker("run", "--rm", "-i", "busybox", "cat", input=b"piped\n")
    assert r.stdout == b"piped\n"
    # -it needs a terminal: run under script(1) to give it one
    if shutil.which("script"):
        env = dict(os.environ, DOCKER_HOST=daemon.host)
        p = subprocess.run(
            ["script", "-qec", "docker run -it --rm busybox sh -c 'tty; echo in-tty'", "/dev/null"],
            capture_output=True, env=env, timeout=30, input=b"",
        )
        text = p.stdout.decode()
        assert "/dev/pts/" in text and "in-tty" in text, text


def test_classic_build(daemon, tmp_path):
    """`DOCKER_BUILDKIT=0 docker build` against dockyardd: .dockerignore with
    an exception, -f outside the context, build args, the cache on a rebuild."""
    ctx = tmp_path / "ctx"
    (ctx / "logs").mkdir(parents=True)
    (ctx / "app.txt").write_text("app\n")
    (ctx / "logs" / "a.log").write_text("noise\n")
    (ctx / "logs" / "keep.log").write_text("kept\n")
    (ctx / ".dockerignore").write_text("logs/*.log\n!logs/keep.log\n")
    dockerfile = tmp_path / "outside.Dockerfile"
    dockerfile.write_text("FROM busybox\nARG WHO=nobody\nCOPY . /ctx/\nRUN echo $WHO > /who\nCMD [\"cat\", \"/who\"]\n")
    env_build = ("build", "-t", "dk-built:1", "--build-arg", "WHO=docker", "-f", str(dockerfile), str(ctx))
    r = daemon.docker(*env_build)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "Step 4/5 : RUN echo $WHO > /who" in out and "Successfully tagged dk-built:1" in out
    try:
        assert daemon.docker("run", "--rm", "dk-built:1").stdout == b"docker\n"
        listing = daemon.docker("run", "--rm", "dk-built:1", "find", "/ctx/logs").stdout.decode().split()
        assert sorted(listing) == ["/ctx/logs", "/ctx/logs/keep.log"]
        # With -f outside the context the CLI appends a random name to .dockerignore,
        # so `COPY .` misses the cache under dockerd too; rebuild from inside.
        (ctx / "Dockerfile").write_text(dockerfile.read_text())
        inside = ("build", "-t", "dk-built:1", "--build-arg", "WHO=docker", str(ctx))
        assert daemon.docker(*inside).returncode == 0
        again = daemon.docker(*inside)
        assert again.returncode == 0 and again.stdout.decode().count("Using cache") == 4, again.stdout
        quiet = daemon.docker("build", "-q", *inside[1:])
        image_id = daemon.docker("image", "inspect", "-f", "{{.Id}}", "dk-built:1").stdout.decode().strip()
        assert quiet.stdout.decode().strip() == image_id
        history = daemon.docker("history", "dk-built:1").stdout.decode()
        assert "RUN |1 WHO=docker /bin/sh -c echo $WHO > /who" in history.replace("/bin/sh -c #(nop) ", "") or \
            "|1 WHO=docker /bin/sh -c echo $WHO" in history
        failing = tmp_path / "fail.Dockerfile"
        failing.write_text("FROM busybox\nRUN echo doomed; exit 7\n")
        bad = daemon.docker("build", "-t", "dk-built:bad", "-f", str(failing), str(ctx))
        assert bad.returncode != 0
        assert b"returned a non-zero code: 7" in bad.stderr + bad.stdout
        assert daemon.docker("image", "inspect", "dk-built:bad").returncode != 0
    finally:
        daemon.docker("rmi", "dk-built:1")
