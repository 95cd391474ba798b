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
