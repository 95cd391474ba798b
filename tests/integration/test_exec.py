"""docker exec against dockyardd: our runtime joins the container's namespaces."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def out(r) -> str:
    return r.stdout.decode().strip()


@pytest.fixture
def running(daemon):
    r = daemon.docker("run", "-d", "--name", "t-exec", "--hostname", "exechost", "-e", "FROM_RUN=1", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    yield "t-exec"
    daemon.docker("rm", "-f", "t-exec")


def test_exec_joins_the_container(daemon, running):
    r = daemon.docker("exec", running, "sh", "-c", "hostname; echo $FROM_RUN; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.returncode == 0, r.stderr
    lines = out(r).splitlines()
    assert lines[0] == "exechost" and lines[1] == "1" and lines[2].startswith("sleep 300")


def test_exec_exit_codes_and_errors(daemon, running):
    assert daemon.docker("exec", running, "sh", "-c", "exit 7").returncode == 7
    r = daemon.docker("exec", running, "nosuchcmd")
    assert r.returncode == 127 and b"executable file not found" in r.stderr + r.stdout
    r = daemon.docker("exec", "nosuchcontainer", "true")
    assert r.returncode == 1 and b"No such container" in r.stderr


def test_exec_user_workdir_env_stdin(daemon, running):
    r = daemon.docker("exec", "-u", "nobody", "-w", "/tmp", "-e", "X=42", running, "sh", "-c", "id -u; pwd; echo $X")
    assert out(r).splitlines() == ["65534", "/tmp", "42"]
    r = daemon.docker("exec", "-i", running, "tr", "a-z", "A-Z", input=b"shout\n")
    assert r.stdout == b"SHOUT\n"


def test_exec_detached(daemon, running):
    assert daemon.docker("exec", "-d", running, "sh", "-c", "echo bg > /tmp/bg").returncode == 0
    for _ in range(50):
        r = daemon.docker("exec", running, "cat", "/tmp/bg")
        if r.returncode == 0:
            break
    assert out(r) == "bg"


def test_exec_into_stopped_container_is_refused(daemon):
    daemon.docker("create", "--name", "t-exec-stopped", "busybox", "true")
    try:
        r = daemon.docker("exec", "t-exec-stopped", "true")
        assert r.returncode == 1 and b"is not running" in r.stderr
    finally:
        daemon.docker("rm", "-f", "t-exec-stopped")


@pytest.mark.skipif(not shutil.which("script"), reason="script(1) gives the CLI a terminal")
def test_exec_tty(daemon, running):
    env = dict(os.environ, DOCKER_HOST=daemon.host)
    feed = subprocess.Popen(["sh", "-c", "sleep 1; printf 'tty; stty size; exit 4\\n'; sleep 1"], stdout=subprocess.PIPE)
    p = subprocess.run(["script", "-qec", f"stty rows 21 cols 71; docker exec -it {running} sh", "/dev/null"],
                       stdin=feed.stdout, capture_output=True, env=env, timeout=30)
    feed.wait()
    text = p.stdout.decode(errors="replace")
    assert "/dev/pts/" in text and "21 71" in text, text


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_exec_under_other_runtimes(daemon, runtime):
    name = f"t-exec-{runtime}"
    assert daemon.docker("run", "-d", "--runtime", runtime, "--name", name, "busybox", "sleep", "60").returncode == 0
    try:
        r = daemon.docker("exec", name, "sh", "-c", "echo $$ >/dev/null; hostname; exit 3")
        assert r.returncode == 3, r.stderr
    finally:
        daemon.docker("rm", "-f", name)


def test_docker_py_exec_run(daemon, running):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=daemon.host)
    try:
        c = client.containers.get(running)
        result = c.exec_run("sh -c 'echo hi; exit 3'")
        assert result.exit_code == 3 and result.output == b"hi\n"
    finally:
        client.close()
