"""docker-py (the SDK from PyPI) against dockyardd."""

from __future__ import annotations

import pytest

docker = pytest.importorskip("docker")


@pytest.fixture
def client(daemon):
    c = docker.DockerClient(base_url=daemon.host)
    yield c
    c.close()


def test_containers_run_returns_output(client):
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"


def test_run_detached_and_manage(client):
    c = client.containers.run("busybox", "sh -c 'echo up; sleep 300'", detach=True, name="py-detached")
    try:
        c.reload()
        assert c.status == "running"
        assert c.name == "py-detached"
        assert any(x.id == c.id for x in client.containers.list())
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] == 137
        assert c.logs() == b"up\n"
    finally:
        c.remove(force=True)


def test_nonzero_exit_raises(client):
    with pytest.raises(docker.errors.ContainerError) as info:
        client.containers.run("busybox", "sh -c 'echo oops >&2; exit 3'", remove=True)
    assert info.value.exit_status == 3


def test_missing_image(client):
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nosuchimage:v9")


def test_ping_version_info(client):
    assert client.ping() is True
    assert client.version()["ApiVersion"]
    assert client.info()["Containers"] >= 0


def test_archive_and_volumes(client):
    import io
    import tarfile

    c = client.containers.run("busybox", "sleep 60", detach=True, name="py-archive")
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = b"from docker-py\n"
            info = tarfile.TarInfo("hello.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        assert c.put_archive("/tmp", buf.getvalue()) is True
        assert c.exec_run("cat /tmp/hello.txt").output == b"from docker-py\n"
        stream, stat = c.get_archive("/tmp/hello.txt")
        tar = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
        assert tar.extractfile("hello.txt").read() == b"from docker-py\n"
        assert stat["name"] == "hello.txt" and stat["size"] == 15
    finally:
        c.remove(force=True)
    v = client.volumes.create("py-volume", labels={"made": "by-docker-py"})
    try:
        assert client.volumes.get("py-volume").attrs["Labels"] == {"made": "by-docker-py"}
        out = client.containers.run("busybox", "sh -c 'echo kept > /v/f; cat /v/f'", volumes={"py-volume": {"bind": "/v", "mode": "rw"}}, remove=True)
        assert out == b"kept\n"
    finally:
        v.remove()


def test_attach_detach_keys_leave_the_container_running(daemon):
    import os
    import shutil
    import subprocess

    if not shutil.which("script"):
        pytest.skip("script(1) gives the CLI a terminal")
    assert daemon.docker("run", "-dit", "--name", "py-detach", "busybox", "sh").returncode == 0
    try:
        env = dict(os.environ, DOCKER_HOST=daemon.host)
        feed = subprocess.Popen(["sh", "-c", "sleep 1; printf 'echo inside\\n'; sleep 0.5; printf '\\020\\021'; sleep 1"], stdout=subprocess.PIPE)
        p = subprocess.run(["script", "-qec", "docker attach py-detach", "/dev/null"], stdin=feed.stdout,
                           capture_output=True, env=env, timeout=30)
        feed.wait()
        assert b"inside" in p.stdout and b"read escape sequence" in p.stdout
        assert daemon.docker("inspect", "-f", "{{.State.Status}}", "py-detach").stdout == b"running\n"
    finally:
        daemon.docker("rm", "-f", "py-detach")


def test_images_build(client, tmp_path):
    """docker-py's images.build: a context directory, build args, the image
    it returns, the log it yields, and BuildError for a failing step."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nARG NAME=x\nRUN echo hello $NAME > /hello\nLABEL built=by-py\n")
    image, logs = client.images.build(path=str(tmp_path), tag="py-built:1", buildargs={"NAME": "py"}, rm=True)
    try:
        assert "py-built:1" in image.tags and image.labels == {"built": "by-py"}
        assert any("Step 3/4" in chunk.get("stream", "") for chunk in logs)
        assert client.containers.run("py-built:1", "cat /hello", remove=True) == b"hello py\n"
        (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 5\n")
        with pytest.raises(docker.errors.BuildError, match="returned a non-zero code: 5"):
            client.images.build(path=str(tmp_path), tag="py-built:bad")
    finally:
        client.images.remove("py-built:1")


# --- networking (issue 5) -------------------------------------------------------

_PY_HTTPD = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"


def _py_until(check, timeout: float = 10.0, interval: float = 0.2):
    import time

    deadline = time.time() + timeout
    while True:
        value = check()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)


def _py_wget(client, network: str, url: str) -> bytes:
    """What a container on `network` gets from `url` (b"" when it cannot)."""
    try:
        return client.containers.run("busybox", ["sh", "-c", f"timeout 5 wget -qO- {url}"], network=network, remove=True)
    except docker.errors.ContainerError:
        return b""


def test_networks_create_connect_alias_disconnect_remove(client):
    """networks.create with an IPAM config, network.connect with aliases, a container
    resolving the alias, network.containers, network.disconnect, network.remove."""
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.249.41.0/24", gateway="10.249.41.254")])
    net = client.networks.create("pyt-net", driver="bridge", ipam=ipam, labels={"made": "by-docker-py"})
    home = web = None
    try:
        home = client.networks.create("pyt-home", ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.249.42.0/24")]))
        net.reload()
        assert net.name == "pyt-net" and net.attrs["Driver"] == "bridge"
        assert net.attrs["IPAM"]["Config"][0]["Subnet"] == "10.249.41.0/24"
        assert net.attrs["IPAM"]["Config"][0]["Gateway"] == "10.249.41.254"
        assert net.attrs["Labels"] == {"made": "by-docker-py"}
        assert [n.id for n in client.networks.list(names=["pyt-net"])] == [net.id]
        assert client.networks.get("pyt-net").id == net.id
        assert net.containers == []

        web = client.containers.run("busybox", ["sh", "-c", _PY_HTTPD.format(text="hello-alias")], detach=True,
                                    name="pyt-web", network="pyt-home")
        net.connect(web, aliases=["pyt-alias"])
        net.reload()
        assert [c.name for c in net.containers] == ["pyt-web"]
        web.reload()
        endpoint = web.attrs["NetworkSettings"]["Networks"]["pyt-net"]
        assert "pyt-alias" in endpoint["Aliases"]
        assert endpoint["IPAddress"].startswith("10.249.41.") and endpoint["Gateway"] == "10.249.41.254"
        assert endpoint["NetworkID"] == net.id

        assert _py_until(lambda: _py_wget(client, "pyt-net", "http://pyt-alias/")) == b"hello-alias\n"
        assert _py_wget(client, "pyt-net", "http://pyt-web/") == b"hello-alias\n"

        net.disconnect(web)
        net.reload()
        assert net.containers == []
        web.reload()
        assert list(web.attrs["NetworkSettings"]["Networks"]) == ["pyt-home"]
        assert _py_wget(client, "pyt-net", "http://pyt-alias/") == b""
        with pytest.raises(docker.errors.APIError):
            net.disconnect(web)

        net.connect(web)
        with pytest.raises(docker.errors.APIError, match="active endpoints"):
            net.remove()
        net.disconnect(web, force=True)
        net.remove()
        assert client.networks.list(names=["pyt-net"]) == []
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("pyt-net")
    finally:
        if web is not None:
            web.remove(force=True)
        for n in client.networks.list(names=["pyt-net", "pyt-home"]):
            n.remove()


def test_containers_run_with_published_port(client):
    """containers.run(ports={'80/tcp': ('127.0.0.1', PORT)}) answers on the host's loopback."""
    import urllib.request

    def get():
        try:
            with urllib.request.urlopen("http://127.0.0.1:18350/", timeout=5) as resp:
                return resp.read()
        except OSError:
            return None

    c = client.containers.run("busybox", ["sh", "-c", _PY_HTTPD.format(text="hello-py-port")], detach=True,
                              name="pyt-pub", ports={"80/tcp": ("127.0.0.1", 18350)})
    try:
        assert _py_until(get) == b"hello-py-port\n"
        c.reload()
        assert c.ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18350"}]}
        assert c.attrs["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18350"}]}
        assert client.api.port(c.id, 80) == [{"HostIp": "127.0.0.1", "HostPort": "18350"}]
    finally:
        c.remove(force=True)
    assert _py_until(lambda: get() is None, timeout=5)
