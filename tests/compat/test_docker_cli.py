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
        daemon.docker("image", "prune", "-f")  # the first build's image, untagged by the later ones


# --- networking (issue 5) -------------------------------------------------------

_HTTPD = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"


def _until(check, timeout: float = 10.0, interval: float = 0.2):
    """check() until it returns something truthy or timeout passes; returns its last value."""
    deadline = time.time() + timeout
    while True:
        value = check()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)


def _wget_from(daemon, network: str, url: str) -> subprocess.CompletedProcess:
    return daemon.docker("run", "--rm", "--network", network, "busybox", "sh", "-c", f"timeout 5 wget -qO- {url}", timeout=30)


def _http_get(url: str) -> bytes | None:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read()
    except OSError:
        return None


def test_network_create_ls_inspect_names_and_rm(daemon):
    """`network create --subnet`, `ls --format`, `inspect` listing the container, a
    container reaching another by name over DNS, and `network rm` refused while the
    network has an endpoint, then accepted."""
    try:
        r = daemon.docker("network", "create", "--subnet", "10.249.31.0/24", "dkt-net")
        assert r.returncode == 0, r.stderr
        net_id = r.stdout.decode().strip()
        assert len(net_id) == 64, r.stdout
        listing = daemon.docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
        assert listing.returncode == 0, listing.stderr
        assert "dkt-net bridge local" in listing.stdout.decode().splitlines()
        ids = daemon.docker("network", "ls", "-q", "--no-trunc", "--filter", "name=dkt-net").stdout.decode().split()
        assert ids == [net_id]
        subnet = daemon.docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}} {{.Driver}}", "dkt-net")
        assert subnet.stdout == b"10.249.31.0/24 bridge\n", subnet.stderr

        r = daemon.docker("run", "-d", "--network", "dkt-net", "--name", "dkt-web", "busybox", "sh", "-c", _HTTPD.format(text="hello-by-name"))
        assert r.returncode == 0, r.stderr
        members = daemon.docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", "dkt-net")
        name, address = members.stdout.decode().split()
        assert name == "dkt-web" and address.startswith("10.249.31.") and address.endswith("/24"), members.stdout
        ip = daemon.docker("inspect", "-f", '{{(index .NetworkSettings.Networks "dkt-net").IPAddress}}', "dkt-web")
        assert address == ip.stdout.decode().strip() + "/24"

        got = _until(lambda: _wget_from(daemon, "dkt-net", "http://dkt-web/").stdout)
        assert got == b"hello-by-name\n"

        refused = daemon.docker("network", "rm", "dkt-net")
        assert refused.returncode != 0
        assert b"has active endpoints" in refused.stderr, refused.stderr
        assert "dkt-net" in daemon.docker("network", "ls", "--format", "{{.Name}}").stdout.decode().split()

        assert daemon.docker("rm", "-f", "dkt-web").returncode == 0
        r = daemon.docker("network", "rm", "dkt-net")
        assert r.returncode == 0 and r.stdout == b"dkt-net\n", r.stderr
        assert "dkt-net" not in daemon.docker("network", "ls", "--format", "{{.Name}}").stdout.decode().split()
        assert daemon.docker("network", "inspect", "dkt-net").returncode != 0
    finally:
        daemon.docker("rm", "-f", "dkt-web")
        daemon.docker("network", "rm", "dkt-net")


def test_published_port_reached_from_the_host_and_port_command(daemon):
    """`run -p 127.0.0.1:PORT:80` answers on the host's loopback; `port` and `ps` show it."""
    try:
        r = daemon.docker("run", "-d", "--name", "dkt-pub", "-p", "127.0.0.1:18310:80", "busybox", "sh", "-c", _HTTPD.format(text="hello-published"))
        assert r.returncode == 0, r.stderr
        assert _until(lambda: _http_get("http://127.0.0.1:18310/")) == b"hello-published\n"
        assert daemon.docker("port", "dkt-pub").stdout == b"80/tcp -> 127.0.0.1:18310\n"
        assert daemon.docker("port", "dkt-pub", "80").stdout == b"127.0.0.1:18310\n"
        assert daemon.docker("port", "dkt-pub", "80/tcp").stdout == b"127.0.0.1:18310\n"
        missing = daemon.docker("port", "dkt-pub", "81")
        assert missing.returncode != 0 and b"No public port '81" in missing.stderr, missing.stderr
        ports = daemon.docker("ps", "--filter", "name=dkt-pub", "--format", "{{.Ports}}")
        assert ports.stdout == b"127.0.0.1:18310->80/tcp\n"
        bindings = daemon.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", "dkt-pub")
        assert bindings.stdout.strip() == b'{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18310"}]}'
        assert daemon.docker("rm", "-f", "dkt-pub").returncode == 0
        # the port is given back with the container
        assert _until(lambda: _http_get("http://127.0.0.1:18310/") is None, timeout=5)
    finally:
        daemon.docker("rm", "-f", "dkt-pub")


def test_network_connect_and_disconnect(daemon):
    """`network connect --alias` makes a running container reachable from another
    network by name and alias; `network disconnect` takes that away again."""
    try:
        for net, subnet in (("dkt-front", "10.249.32.0/24"), ("dkt-back", "10.249.33.0/24")):
            r = daemon.docker("network", "create", "--subnet", subnet, net)
            assert r.returncode == 0, r.stderr
        r = daemon.docker("run", "-d", "--network", "dkt-back", "--name", "dkt-api", "busybox", "sh", "-c", _HTTPD.format(text="hello-api"))
        assert r.returncode == 0, r.stderr
        r = daemon.docker("run", "-d", "--network", "dkt-front", "--name", "dkt-client", "busybox", "sleep", "300")
        assert r.returncode == 0, r.stderr

        def fetch(url):
            return daemon.docker("exec", "dkt-client", "sh", "-c", f"timeout 5 wget -qO- {url}", timeout=30)

        before = fetch("http://dkt-api/")
        assert before.returncode != 0 and before.stdout == b""

        r = daemon.docker("network", "connect", "--alias", "dkt-api-alias", "dkt-front", "dkt-api")
        assert r.returncode == 0, r.stderr
        assert _until(lambda: fetch("http://dkt-api-alias/").stdout) == b"hello-api\n"
        assert fetch("http://dkt-api/").stdout == b"hello-api\n"
        nets = daemon.docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "dkt-api")
        assert sorted(nets.stdout.decode().split()) == ["dkt-back", "dkt-front"]
        aliases = daemon.docker("inspect", "-f", '{{(index .NetworkSettings.Networks "dkt-front").Aliases}}', "dkt-api")
        assert "dkt-api-alias" in aliases.stdout.decode(), aliases.stdout
        members = daemon.docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "dkt-front")
        assert sorted(members.stdout.decode().split()) == ["dkt-api", "dkt-client"]

        r = daemon.docker("network", "disconnect", "dkt-front", "dkt-api")
        assert r.returncode == 0, r.stderr
        after = fetch("http://dkt-api-alias/")
        assert after.returncode != 0 and after.stdout == b""
        nets = daemon.docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "dkt-api")
        assert nets.stdout.decode().split() == ["dkt-back"]
        again = daemon.docker("network", "disconnect", "dkt-front", "dkt-api")
        assert again.returncode != 0 and b"is not connected to network dkt-front" in again.stderr, again.stderr
        # still served on the network it kept
        assert _wget_from(daemon, "dkt-back", "http://dkt-api/").stdout == b"hello-api\n"
    finally:
        daemon.docker("rm", "-f", "dkt-api", "dkt-client")
        daemon.docker("network", "rm", "dkt-front", "dkt-back")
