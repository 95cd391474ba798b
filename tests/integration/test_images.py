"""Images through our CLI: import with changes, list, tag, rmi, history, inspect, prune."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest


def out(r) -> str:
    return r.stdout.decode().strip()


def _tar_with(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


@pytest.fixture
def busybox_tar(tmp_path) -> str:
    """A root filesystem tar with busybox and a marker file."""
    with open("/bin/busybox", "rb") as f:
        bb = f.read()
    path = tmp_path / "rootfs.tar"
    path.write_bytes(_tar_with({"bin/busybox": bb, "marker": b"imported\n"},
                               {"bin/sh": "busybox", "bin/cat": "busybox", "bin/echo": "busybox"}))
    return str(path)


def test_import_with_changes_and_run(dy, busybox_tar):
    r = dy("import", "--change", 'ENTRYPOINT ["/bin/echo", "entry"]', "--change", "CMD default-arg",
           "--change", "ENV GREETING=hi", "--change", "WORKDIR /srv", "-m", "test import",
           busybox_tar, "t-imported:v1")
    assert r.returncode == 0, r.stderr
    image_id = out(r).splitlines()[-1]
    assert image_id.startswith("sha256:")
    try:
        # ENTRYPOINT + CMD, CMD replaced by arguments, entrypoint replaced by --entrypoint
        assert out(dy("run", "--rm", "t-imported:v1")) == "entry /bin/sh -c default-arg"
        assert out(dy("run", "--rm", "t-imported:v1", "x", "y")) == "entry x y"
        assert out(dy("run", "--rm", "--entrypoint", "/bin/cat", "t-imported:v1", "/marker")) == "imported"
        assert out(dy("run", "--rm", "--entrypoint", "/bin/sh", "t-imported:v1", "-c", "echo $GREETING $PWD")) == "hi /srv"
        config = json.loads(dy("image", "inspect", "t-imported:v1").stdout)[0]
        assert config["Id"] == image_id
        assert config["RepoTags"] == ["t-imported:v1"]
        assert config["Config"]["Entrypoint"] == ["/bin/echo", "entry"]
        assert config["Comment"] == "test import"
        assert len(config["RootFS"]["Layers"]) == 1
        history = out(dy("history", "--no-trunc", "--format", "{{.ID}} {{.Comment}}", "t-imported:v1"))
        assert history.splitlines()[0] == f"{image_id} test import"
    finally:
        dy("rmi", "-f", "t-imported:v1")


def test_import_from_stdin(dy, busybox_tar):
    with open(busybox_tar, "rb") as f:
        r = dy("import", "-", "t-stdin", input=f.read())
    assert r.returncode == 0, r.stderr
    assert "t-stdin:latest" in out(dy("images", "--format", "{{.Repository}}:{{.Tag}}")).splitlines()
    assert dy("rmi", "t-stdin").returncode == 0


def test_images_listing_flags(dy):
    table = out(dy("images")).splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    ids = out(dy("images", "-q")).splitlines()
    assert all(len(i) == 12 for i in ids)
    full = out(dy("images", "-q", "--no-trunc")).splitlines()
    assert all(i.startswith("sha256:") and len(i) == 71 for i in full)
    assert out(dy("images", "--format", "{{.Repository}}:{{.Tag}}", "busybox")) == "busybox:latest"


def test_tag_untag_and_delete(dy):
    busybox_id = out(dy("image", "inspect", "-f", "{{.Id}}", "busybox"))
    assert dy("tag", "busybox", "t-alias:one").returncode == 0
    assert out(dy("image", "inspect", "-f", "{{.Id}}", "t-alias:one")) == busybox_id
    # a second tag: rmi only untags
    r = dy("rmi", "t-alias:one")
    assert out(r) == "Untagged: t-alias:one"
    assert dy("image", "inspect", "busybox").returncode == 0
    assert dy("image", "inspect", "t-alias:one").returncode != 0


def test_rmi_refuses_image_in_use(dy, busybox_tar):
    dy("import", busybox_tar, "t-inuse:v1", check=True)
    dy("create", "--name", "t-user", "t-inuse:v1", "/bin/sh", check=True)
    try:
        r = dy("rmi", "t-inuse:v1")
        assert r.returncode != 0
        assert b"container" in r.stderr and b"is using its referenced image" in r.stderr
        assert dy("image", "inspect", "t-inuse:v1").returncode == 0
    finally:
        dy("rm", "t-user")
    r = dy("rmi", "t-inuse:v1")
    assert r.returncode == 0, r.stderr
    lines = out(r).splitlines()
    assert lines[0] == "Untagged: t-inuse:v1" and lines[1].startswith("Deleted: sha256:")


def test_image_prune_removes_dangling(dy, busybox_tar):
    r = dy("import", busybox_tar)
    dangling = out(r).splitlines()[-1]
    assert out(dy("images", "--filter", "dangling=true", "-q", "--no-trunc")).splitlines() == [dangling]
    r = dy("image", "prune", "-f")
    assert r.returncode == 0
    assert dangling in r.stdout.decode()
    assert dy("image", "inspect", dangling).returncode != 0
    assert dy("image", "inspect", "busybox").returncode == 0


def test_unknown_image_messages(dy):
    r = dy("image", "inspect", "nosuch:tag")
    assert r.returncode == 1
    assert b"No such image: nosuch:tag" in r.stderr
    r = dy("rmi", "nosuch:tag")
    assert r.returncode == 1
    r = dy("import", "/nonexistent.tar", "x")
    assert r.returncode != 0


def test_hostile_tar_is_rejected(dy, tmp_path):
    path = tmp_path / "evil.tar"
    path.write_bytes(_tar_with({"../../escape": b"x"}))
    r = dy("import", str(path), "t-evil")
    assert r.returncode != 0
    assert dy("image", "inspect", "t-evil").returncode != 0
    assert not os.path.exists("/escape")
