"""One suite for every snapshotter, with real mounts; then the image store end to end.

Needs root (mount(2), mknod).  Every mount is undone in a finally, and the
temporary root is removed, even when an assertion fails.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import tarfile
import tempfile

import pytest

from dockyard.content.store import ContentStore
from dockyard.errors import Conflict, InvalidArgument, NotFound, SystemError
from dockyard.images.removal import ContainerUse
from dockyard.images.store import ImageStore
from dockyard.metadata.db import Database
from dockyard.mount import is_mountpoint, mount_all, unmount
from dockyard.paths import DataRoot
from dockyard.services.images import ImageService
from dockyard.snapshots import NativeSnapshotter, OverlaySnapshotter, choose_snapshotter, overlay_supported

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for mounts")


def make_layer(*entries: tuple) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, *rest in entries:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = rest[0]
                info.size, info.mode = len(data), 0o644
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "whiteout":
                pass  # name already carries the .wh. prefix
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


@pytest.fixture
def scratch():
    root = tempfile.mkdtemp(prefix="dockyard-snap-")
    mounted: list[str] = []
    try:
        yield root, mounted
    finally:
        for target in reversed(mounted):
            try:
                unmount(target, detach=True)
            except SystemError:
                pass
        shutil.rmtree(root, ignore_errors=True)


SNAPSHOTTERS = [
    pytest.param(OverlaySnapshotter, id="overlay"),
    pytest.param(NativeSnapshotter, id="native"),
]


def _mount(mounts, target, mounted):
    os.makedirs(target, exist_ok=True)
    mount_all(mounts, target)
    mounted.append(target)


def _unmount(target, mounted):
    unmount(target)
    mounted.remove(target)


@pytest.mark.parametrize("kind", SNAPSHOTTERS)
class TestSnapshotterSuite:
    def test_layers_whiteouts_and_a_writable_rootfs(self, scratch, kind):
        root, mounted = scratch
        if kind is OverlaySnapshotter and not overlay_supported(root):
            pytest.skip("overlayfs unavailable")
        snap = kind(os.path.join(root, "snapshots"))
        base = snap.apply_layer(None, io.BytesIO(make_layer(("dir", "etc"), ("file", "etc/keep", b"k"), ("file", "etc/gone", b"g"))))
        assert base.created and snap.exists(str(base.chain_id)) and base.chain_id == base.diff_id
        top = snap.apply_layer(str(base.chain_id), io.BytesIO(make_layer(("whiteout", "etc/.wh.gone"), ("file", "etc/new", b"n"))))
        assert snap.parent(str(top.chain_id)) == str(base.chain_id)
        # The same layer again is found, not duplicated.
        again = snap.apply_layer(str(base.chain_id), io.BytesIO(make_layer(("whiteout", "etc/.wh.gone"), ("file", "etc/new", b"n"))))
        assert again.chain_id == top.chain_id and not again.created
        assert os.listdir(os.path.join(root, "snapshots", "tmp")) == []

        # Reading without mounting respects the whiteout.
        assert snap.read_file(str(top.chain_id), "/etc/keep") == b"k"
        with pytest.raises(NotFound):
            snap.read_file(str(top.chain_id), "/etc/gone")

        mounts = snap.prepare("ctr1", str(top.chain_id))
        target = os.path.join(root, "rootfs")
        _mount(mounts, target, mounted)
        try:
            assert sorted(os.listdir(os.path.join(target, "etc"))) == ["keep", "new"]
            with open(os.path.join(target, "etc", "written"), "w") as f:
                f.write("w")
            os.unlink(os.path.join(target, "etc", "keep"))
        finally:
            _unmount(target, mounted)
        assert not is_mountpoint(target)
        # Writes landed in the active snapshot only.
        assert snap.read_file(str(top.chain_id), "/etc/keep") == b"k"
        assert snap.usage("ctr1") >= 1

        with pytest.raises(Conflict):
            snap.prepare("ctr1", str(top.chain_id))
        with pytest.raises(Conflict):
            snap.remove(str(top.chain_id))  # ctr1 sits on it

        snap.commit("sha256:" + "c" * 64, "ctr1")
        assert not snap.active_exists("ctr1")
        assert snap.read_file("sha256:" + "c" * 64, "/etc/written") == b"w"
        with pytest.raises(NotFound):
            snap.read_file("sha256:" + "c" * 64, "/etc/keep")
        snap.remove("sha256:" + "c" * 64)
        snap.remove(str(top.chain_id))
        snap.remove(str(base.chain_id))
        assert list(snap.walk()) == []

    def test_view_is_read_only(self, scratch, kind):
        root, mounted = scratch
        snap = kind(os.path.join(root, "snapshots"))
        a = snap.apply_layer(None, io.BytesIO(make_layer(("file", "a", b"1"))))
        b = snap.apply_layer(str(a.chain_id), io.BytesIO(make_layer(("file", "b", b"2"))))
        for name, expected in ((str(a.chain_id), ["a"]), (str(b.chain_id), ["a", "b"])):
            key = "view-" + name[7:19]
            target = os.path.join(root, key)
            _mount(snap.view(key, name), target, mounted)
            try:
                assert sorted(os.listdir(target)) == expected
                with pytest.raises(OSError) as exc:
                    open(os.path.join(target, "x"), "w")
                assert exc.value.errno == errno.EROFS
            finally:
                _unmount(target, mounted)
            snap.remove(key)

    def test_empty_prepare_and_keys(self, scratch, kind):
        root, mounted = scratch
        snap = kind(os.path.join(root, "snapshots"))
        target = os.path.join(root, "m")
        _mount(snap.prepare("scratch", None), target, mounted)
        try:
            assert os.listdir(target) == []
        finally:
            _unmount(target, mounted)
        with pytest.raises(InvalidArgument):
            snap.prepare("../escape", None)
        with pytest.raises(NotFound):
            snap.mounts("nope")
        snap.remove("scratch")
        with pytest.raises(NotFound):
            snap.remove("scratch")


def test_choose_snapshotter(scratch):
    root, _ = scratch
    chosen = choose_snapshotter(os.path.join(root, "snapshots"))
    assert chosen.driver_name in ("overlay2", "vfs")
    assert [e for e in os.listdir(os.path.join(root, "snapshots")) if e.startswith(".probe")] == []
    assert choose_snapshotter(os.path.join(root, "snapshots"), prefer="vfs").driver_name == "vfs"


BUSYBOX = "/bin/busybox"


def busybox_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(BUSYBOX, "bin/busybox")
        for name in ("sh", "ls", "true"):
            info = tarfile.TarInfo(f"bin/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static not installed")
@pytest.mark.parametrize("kind", SNAPSHOTTERS)
def test_image_round_trip(scratch, kind):
    root, mounted = scratch
    data_root = DataRoot(root)
    data_root.ensure()
    db = Database(data_root.metadata_db)
    users: dict[str, list[ContainerUse]] = {}
    store = ImageStore(db, ContentStore(data_root.content), kind(data_root.snapshots))
    service = ImageService(store, in_use_by=lambda image_id: users.get(image_id, []))
    try:
        messages = list(service.import_image(io.BytesIO(busybox_tar()), repo="busybox", changes=['CMD ["sh"]'], message="from busybox-static"))
        image_id = messages[-1]["status"]
        assert image_id.startswith("sha256:")

        [summary] = service.list()
        assert summary["Id"] == image_id and summary["RepoTags"] == ["busybox:latest"] and summary["Size"] > 500_000
        info = service.inspect("busybox")
        assert info["Config"]["Cmd"] == ["sh"] and info["Comment"] == "from busybox-static"
        assert info["RootFS"]["Type"] == "layers" and len(info["RootFS"]["Layers"]) == 1
        assert info["GraphDriver"]["Name"] == store.snapshotter.driver_name
        assert service.inspect(image_id[7:19])["Id"] == image_id
        assert service.history("busybox")[0]["Comment"] == "from busybox-static"
        assert store.read_file_in_image(image_id, "/etc/passwd").startswith(b"root:x:0:0")

        # A container's root filesystem really runs busybox's files.
        target = os.path.join(root, "rootfs")
        _mount(store.prepare_rootfs(image_id, "ctr"), target, mounted)
        try:
            assert os.path.islink(os.path.join(target, "bin", "sh"))
            assert os.path.getsize(os.path.join(target, "bin", "busybox")) == os.path.getsize(BUSYBOX)
        finally:
            _unmount(target, mounted)

        service.tag("busybox", "localhost:5000/bb", "v1")
        assert sorted(service.list()[0]["RepoTags"]) == ["busybox:latest", "localhost:5000/bb:v1"]
        with pytest.raises(NotFound) as exc:
            service.inspect("nosuch")
        assert exc.value.message == "No such image: nosuch:latest"

        # Deleting by ID with two repositories needs force.
        with pytest.raises(Conflict) as exc:
            service.delete(image_id[7:19])
        assert "(must be forced) - image is referenced in multiple repositories" in exc.value.message
        # Untagging one of two tags only untags.
        assert service.delete("localhost:5000/bb:v1") == [{"Untagged": "localhost:5000/bb:v1"}]

        users[image_id] = [ContainerUse("f" * 64, True)]
        with pytest.raises(Conflict) as exc:
            service.delete("busybox")
        assert exc.value.message == (
            f'conflict: unable to remove repository reference "busybox" (must force) - '
            f"container ffffffffffff is using its referenced image {image_id[7:19]}"
        )
        with pytest.raises(Conflict) as exc:
            service.delete(image_id, force=True)
        assert exc.value.message == f"conflict: unable to delete {image_id[7:19]} (cannot be forced) - image is being used by running container ffffffffffff"
        users.clear()
        store.remove_rootfs("ctr")

        records = service.delete("busybox")
        assert records[0] == {"Untagged": "busybox:latest"}
        assert {"Deleted": image_id} in records
        assert service.list() == []
        assert list(store.content.walk()) == []
        assert list(store.snapshotter.walk()) == []
        assert service.prune() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
    finally:
        db.close()


@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static not installed")
def test_prune_dangling_and_shared_layers(scratch):
    root, _ = scratch
    data_root = DataRoot(root)
    data_root.ensure()
    db = Database(data_root.metadata_db)
    store = ImageStore(db, ContentStore(data_root.content), choose_snapshotter(data_root.snapshots))
    try:
        layer = busybox_tar()
        a = store.import_layer(io.BytesIO(layer), "a", ["CMD a"])
        b = store.import_layer(io.BytesIO(layer), "b", ["CMD b"])
        assert a != b and store.rootfs_chain(a) == store.rootfs_chain(b)
        assert store.delete("a")[-1] == {"Deleted": a}  # the shared layer stays
        assert store.read_file_in_image(b, "/etc/passwd").startswith(b"root")
        store.untag("b")
        assert [r.id for r in store.list(filters={"dangling": ["true"]})] == [b]
        records, reclaimed = store.prune()
        assert {"Deleted": b} in records and reclaimed > 500_000
        assert list(store.snapshotter.walk()) == [] and list(store.content.walk()) == []
    finally:
        db.close()
