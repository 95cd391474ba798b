"""save and load end to end: our CLI, the Engine API, the docker CLI against dockyardd, and a
real Docker daemon when one answers at /var/run/docker.sock (the crossover both ways).

Every test works on an image of its own (busybox's binary and a marker file, imported under a
random name), so that removing and loading it never touches the session's busybox.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import tarfile

import pytest

DOCKERD_SOCKET = "/var/run/docker.sock"


def out(r) -> str:
    return r.stdout.decode().strip()


def _rootfs_tar(marker: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar, open("/bin/busybox", "rb") as bb:
        data = bb.read()
        for name, body in (("bin/busybox", data), ("marker", marker)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o755
            tar.addfile(info, io.BytesIO(body))
        for applet in ("sh", "cat", "echo"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buf.getvalue()


@pytest.fixture
def image(dy, tmp_path):
    """A private image, t-saveload-<random>:v1, removed afterwards (with any untagged leftover)."""
    token = secrets.token_hex(4)
    name = f"t-saveload-{token}:v1"
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(_rootfs_tar(f"marker {token}\n".encode()))
    r = dy("import", str(rootfs), name)
    assert r.returncode == 0, r.stderr
    image_id = out(r).splitlines()[-1]
    yield name
    dy("rmi", "-f", name)
    dy("rmi", "-f", image_id)


def marker(dy, name: str) -> str:
    r = dy("run", "--rm", name, "cat", "/marker")
    assert r.returncode == 0, r.stderr
    return out(r)


def json_lines(payload) -> list[dict]:
    """A JSON message stream as the api fixture hands it back (one message arrives decoded)."""
    if isinstance(payload, dict):
        return [payload]
    return [json.loads(line) for line in payload.splitlines() if line.strip()]


def tar_names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.rstrip("/") for m in tar}


# -- our CLI -------------------------------------------------------------------------------

def test_save_rmi_load_run(dy, image, tmp_path):
    expected = marker(dy, image)
    archive = tmp_path / "image.tar"
    r = dy("save", "-o", str(archive), image)
    assert r.returncode == 0 and r.stdout == b"", r.stderr
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= tar_names(archive.read_bytes())
    assert oct(os.stat(archive).st_mode & 0o777) == "0o600"
    assert dy("rmi", image).returncode == 0
    assert dy("image", "inspect", image).returncode == 1
    r = dy("load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    assert out(r) == f"Loaded image: {image}"
    assert marker(dy, image) == expected


def test_save_to_stdout_and_load_from_stdin(dy, image):
    image_id = out(dy("image", "inspect", "-f", "{{.Id}}", image))
    r = dy("image", "save", image)
    assert r.returncode == 0, r.stderr
    dy("rmi", image)
    r = dy("image", "load", "-q", input=r.stdout)
    assert r.returncode == 0, r.stderr
    assert out(r) == f"Loaded image: {image}"
    assert out(dy("image", "inspect", "-f", "{{.Id}}", image)) == image_id


def test_untagged_save_loads_by_id(dy, image):
    image_id = out(dy("image", "inspect", "-f", "{{.Id}}", image))
    data = dy("save", image_id[7:19]).stdout
    dy("rmi", image)
    r = dy("load", input=data)
    assert out(r) == f"Loaded image ID: {image_id}"
    assert marker(dy, image_id)


def test_oci_directory_out_and_in(dy, image, tmp_path):
    layout = tmp_path / "layout"
    r = dy("save", "--format", "oci-dir", "-o", str(layout), image)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(layout)) == ["blobs", "index.json", "oci-layout"]
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    dy("rmi", image)
    r = dy("load", "-i", str(layout))
    assert r.returncode == 0, r.stderr
    assert out(r) == f"Loaded image: {image}"
    assert marker(dy, image)
    r = dy("save", "--format", "oci-dir", "-o", str(layout), image)
    assert r.returncode == 1 and b"must be an empty directory" in r.stderr


def test_oci_tar_has_no_docker_files(dy, image):
    r = dy("save", "--format", "oci", image)
    assert r.returncode == 0, r.stderr
    names = tar_names(r.stdout)
    assert "manifest.json" not in names and "repositories" not in names and "index.json" in names


def test_save_errors(dy, image, tmp_path):
    r = dy("save", "-o", str(tmp_path / "x.tar"), "nosuch-image:v9")
    assert r.returncode == 1 and b"No such image: nosuch-image:v9" in r.stderr
    assert not (tmp_path / "x.tar").exists()
    r = dy("save", "-o", str(tmp_path / "missing" / "x.tar"), image)
    assert r.returncode == 1 and b"invalid output path: directory" in r.stderr
    r = dy("save", "--format", "zip", image)
    assert r.returncode == 125 and b'invalid argument "zip" for "--format" flag' in r.stderr
    r = dy("save", "--format", "oci-dir", image)
    assert r.returncode == 1 and b"needs -o DIR" in r.stderr
    r = dy("save")
    assert r.returncode == 1 and b"requires at least 1 argument" in r.stderr


def test_load_refuses_a_corrupt_archive_and_imports_nothing(dy, tmp_path):
    before = out(dy("images", "-aq", "--no-trunc"))
    layer = _rootfs_tar(b"one")
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": [
        "sha256:" + "0" * 64]}}).encode()
    files = {"c.json": config, "l.tar": layer, "manifest.json": json.dumps(
        [{"Config": "c.json", "RepoTags": ["t-corrupt:1"], "Layers": ["l.tar"]}]).encode()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    r = dy("load", input=buf.getvalue())
    assert r.returncode == 1
    assert b"invalid archive: layer 1 of t-corrupt:1 (l.tar) does not match the image's diff id" in r.stderr
    assert out(dy("images", "-aq", "--no-trunc")) == before


# -- the Engine API ------------------------------------------------------------------------------

def test_api_get_and_load(api, image):
    status, body, resp = api("GET", f"/v1.47/images/get?names={image}")
    assert status == 200 and resp.getheader("Content-Type") == "application/x-tar"
    assert "manifest.json" in tar_names(body)
    status, single, _ = api("GET", f"/v1.47/images/{image}/get")
    assert status == 200 and single == body
    status, body404, _ = api("GET", "/v1.47/images/get?names=nosuch-image:v9")
    assert status == 404 and body404 == {"message": "No such image: nosuch-image:v9"}

    status, _, _ = api("DELETE", f"/v1.47/images/{image}")
    assert status == 200
    status, raw, resp = api("POST", "/v1.47/images/load?quiet=0", body, {"Content-Type": "application/x-tar"})
    assert status == 200 and resp.getheader("Content-Type") == "application/json"
    messages = json_lines(raw)
    progress = [m for m in messages if m.get("status") == "Loading layer"]
    assert len(progress) == 1 and progress[0]["progressDetail"]["current"] == progress[0]["progressDetail"]["total"]
    assert messages[-1] == {"stream": f"Loaded image: {image}\n"}
    # quiet (the default): no progress, and loading again changes nothing
    status, raw, _ = api("POST", "/v1.47/images/load", body, {"Content-Type": "application/x-tar"})
    assert json_lines(raw) == [{"stream": f"Loaded image: {image}\n"}]


def test_api_load_errors_come_in_the_stream(api):
    status, raw, _ = api("POST", "/v1.47/images/load", b"this is not a tar archive" * 40,
                         {"Content-Type": "application/x-tar"})
    assert status == 200
    message = json_lines(raw)[-1]
    assert message["error"].startswith("invalid archive: not a tar")
    assert message["errorDetail"] == {"message": message["error"]}


# -- the docker CLI against dockyardd ---------------------------------------------------------------

needs_docker = pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")


@needs_docker
def test_docker_cli_save_and_load(daemon, dy, image, tmp_path):
    archive = tmp_path / "docker.tar"
    r = daemon.docker("save", "-o", str(archive), image)
    assert r.returncode == 0, r.stderr
    assert daemon.docker("rmi", image).returncode == 0
    r = daemon.docker("load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    assert out(r) == f"Loaded image: {image}"
    r = daemon.docker("load", input=archive.read_bytes())
    assert out(r) == f"Loaded image: {image}"
    assert out(daemon.docker("run", "--rm", image, "cat", "/marker")).startswith("marker ")
    r = daemon.docker("load", input=b"garbage" * 100)
    assert r.returncode == 1 and b"invalid archive" in r.stderr


# -- crossover with a real Docker daemon -----------------------------------------------------------------

def _dockerd_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    s = socket.socket(socket.AF_UNIX)
    try:
        s.settimeout(2)
        s.connect(DOCKERD_SOCKET)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def dockerd(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_HOST=f"unix://{DOCKERD_SOCKET}")
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.run(["docker", *args], input=input, capture_output=True, timeout=120, env=env)


@pytest.mark.skipif(not _dockerd_answers(), reason=f"no Docker daemon at {DOCKERD_SOCKET}")
def test_crossover_with_dockerd(dy, image, tmp_path):
    """dockyard save | docker load, run there; docker save | dockyard load, run here; same image ID throughout."""
    expected = marker(dy, image)
    image_id = out(dy("image", "inspect", "-f", "{{.Id}}", image))
    ours = tmp_path / "ours.tar"
    assert dy("save", "-o", str(ours), image).returncode == 0
    try:
        r = dockerd("load", "-i", str(ours))
        assert r.returncode == 0, r.stderr
        assert out(r) == f"Loaded image: {image}"
        assert out(dockerd("image", "inspect", "-f", "{{.Id}}", image)) == image_id
        r = dockerd("run", "--rm", image, "cat", "/marker")
        assert r.returncode == 0, r.stderr
        assert out(r) == expected

        theirs = tmp_path / "theirs.tar"
        assert dockerd("save", "-o", str(theirs), image).returncode == 0
        dy("rmi", image)
        r = dy("load", "-i", str(theirs))
        assert r.returncode == 0, r.stderr
        assert out(r) == f"Loaded image: {image}"
        assert out(dy("image", "inspect", "-f", "{{.Id}}", image)) == image_id
        assert marker(dy, image) == expected
    finally:
        dockerd("rmi", "-f", image)
