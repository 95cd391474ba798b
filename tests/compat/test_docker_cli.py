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
