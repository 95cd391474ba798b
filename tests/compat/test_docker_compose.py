"""docker-compose (Debian's 1.29, a compose tool built on docker-py) against dockyardd,
and the two composes on one project: both find a project by the same labels.

docker-compose 1.x names containers ``<project>_<service>_<n>`` where
``dockyard compose`` (like docker compose 2) writes ``<project>-<service>-<n>``;
the labels are the same, which is what lets either tool see the other's project.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import urllib.request

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PORT = 18160

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                reason="docker-compose is not installed (make install adds it)")

PROJECT_FILE = textwrap.dedent(f"""\
    version: "3.8"
    services:
      db:
        image: busybox
        command: sh -c "mkdir -p /www; echo from-db > /www/index.html; touch /tmp/ready; httpd -f -p 80 -h /www"
        healthcheck:
          test: ["CMD-SHELL", "test -f /tmp/ready"]
          interval: 1s
          retries: 10
        volumes: [data:/data]
        networks: [backend]
      web:
        image: busybox
        command: sh -c "mkdir -p /www; echo hello > /www/index.html; httpd -f -p 80 -h /www"
        ports: ["127.0.0.1:{PORT}:80"]
        depends_on:
          db: {{condition: service_healthy}}
        networks: [frontend, backend]
    networks:
      frontend: {{}}
      backend: {{}}
    volumes:
      data: {{}}
    """)


@pytest.fixture
def project(daemon, tmp_path):
    (tmp_path / "docker-compose.yml").write_text(PROJECT_FILE)
    env = dict(os.environ, DOCKER_HOST=daemon.host, DOCKYARD_HOST=daemon.host)

    def v1(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker-compose", "-p", "dyt-v1", *args], cwd=tmp_path, env=env,
                              capture_output=True, timeout=120)

    def ours(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([os.path.join(REPO, ".venv", "bin", "dockyard"), "compose", "-p", "dyt-v1", *args],
                              cwd=tmp_path, env=env, capture_output=True, timeout=120)

    try:
        yield v1, ours
    finally:
        v1("down", "-v", "-t", "0")
        ours("down", "-v", "-t", "0")


def _get() -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=5) as response:
        return response.read().decode().strip()


def test_docker_compose_v1_runs_a_project(daemon, project):
    v1, ours = project
    up = v1("up", "-d")
    assert up.returncode == 0, up.stderr.decode()
    info = json.loads(daemon.cli("inspect", "dyt-v1_db_1", check=True).stdout)[0]
    assert info["State"]["Health"]["Status"] == "healthy"  # service_healthy waited for it
    assert _get() == "hello"
    reach = v1("exec", "-T", "web", "timeout", "5", "wget", "-qO-", "http://db/")
    assert reach.stdout.decode().strip() == "from-db", reach.stderr
    # Our compose sees the same project through the labels.
    listed = ours("ps", "--format", "{{.Name}} {{.Service}}")
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.decode().split("\n")[:-1]) == ["dyt-v1_db_1 db", "dyt-v1_web_1 web"]
    down = v1("down", "-v", "-t", "1")
    assert down.returncode == 0, down.stderr.decode()
    assert not daemon.cli("ps", "-aq", "--filter", "label=com.docker.compose.project=dyt-v1").stdout.strip()
    assert "dyt-v1_data" not in daemon.cli("volume", "ls", "-q").stdout.decode().split()


def test_docker_compose_v1_sees_and_removes_our_project(daemon, project):
    v1, ours = project
    up = ours("up", "-d")
    assert up.returncode == 0, up.stderr.decode()
    assert _get() == "hello"
    listed = v1("ps", "-q")
    assert listed.returncode == 0, listed.stderr
    ids = {json.loads(daemon.cli("inspect", name, check=True).stdout)[0]["Id"]
           for name in ("dyt-v1-db-1", "dyt-v1-web-1")}
    assert set(listed.stdout.decode().split()) == ids
    down = v1("down", "-v", "-t", "1")
    assert down.returncode == 0, down.stderr.decode()
    assert not daemon.cli("ps", "-aq", "--filter", "label=com.docker.compose.project=dyt-v1").stdout.strip()
    networks = daemon.cli("network", "ls", "--format", "{{.Name}}").stdout.decode().split()
    assert not [n for n in networks if n.startswith("dyt-v1_")]


def test_docker_compose_plugin_runs_dockyard_compose(daemon, tmp_path):
    """`docker compose` with contrib/cli-plugins/docker-compose installed (in a
    private DOCKER_CONFIG) is dockyard compose, with the docker CLI's -H."""
    config = tmp_path / "docker-config"
    (config / "cli-plugins").mkdir(parents=True)
    os.symlink(os.path.join(REPO, "contrib", "cli-plugins", "docker-compose"),
               config / "cli-plugins" / "docker-compose")
    work = tmp_path / "work"
    work.mkdir()
    (work / "compose.yaml").write_text("services:\n  s:\n    image: busybox\n    command: sleep 300\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "DOCKYARD_"))}
    env["DOCKER_CONFIG"] = str(config)

    def docker(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "-H", daemon.host, "compose", "-p", "dyt-plugin", *args],
                              cwd=work, env=env, capture_output=True, timeout=60)

    try:
        up = docker("up", "-d")
        assert up.returncode == 0, up.stderr.decode()
        ps = docker("ps", "--format", "{{.Name}}")
        assert ps.stdout.decode().split() == ["dyt-plugin-s-1"], ps.stderr
        listed = subprocess.run(["docker", "--help"], env=env, capture_output=True).stdout.decode()
        assert "dockyard compose" in listed
    finally:
        down = docker("down", "-t", "0")
    assert down.returncode == 0, down.stderr.decode()
    assert not daemon.cli("ps", "-aq", "--filter", "label=com.docker.compose.project=dyt-plugin").stdout.strip()
