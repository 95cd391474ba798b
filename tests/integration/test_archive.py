"""The archive package against a real overlay mount: diff, commit round trip, export, cp.

Needs root (mount(2)).  The mount is undone in a finally and the temporary
directory removed even when an assertion fails.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile

import pytest

from dockyard.archive.changes import Change, ChangeKind, changes, layer_tar_from_upper
from dockyard.archive.copy_in import extract_into
from dockyard.archive.copy_out import tar_from, tar_tree
from dockyard.archive.export import export_rootfs
from dockyard.mount import Mount, mount_all, unmount
from dockyard.snapshots.apply import WhiteoutMode, apply_layer
from tests.unit.archive.trees import names, snapshot, tar_snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for mounts")

C, A, D = ChangeKind.MODIFIED, ChangeKind.ADDED, ChangeKind.DELETED


@pytest.fixture
def overlay():
    base = tempfile.mkdtemp(prefix="dockyard-archive-")
    lower, upper, work, merged = (os.path.join(base, n) for n in ("lower", "upper", "work", "merged"))
    for d in (lower, upper, work, merged):
        os.mkdir(d)
    for d in ("etc", "opt/app/sub", "usr/bin"):
        os.makedirs(os.path.join(lower, d))
    for f, data in (("etc/passwd", b"root"), ("etc/shadow", b"x"), ("opt/app/a", b"a"), ("opt/app/sub/b", b"b"), ("usr/bin/tool", b"#!")):
        with open(os.path.join(lower, f), "wb") as fh:
            fh.write(data)
    os.symlink("/", os.path.join(lower, "escape"))
    mounted = False
    try:
        mount_all([Mount("overlay", "overlay", (f"lowerdir={lower}", f"upperdir={upper}", f"workdir={work}", "index=off"))], merged)
        mounted = True
        yield base, lower, upper, merged
    finally:
        if mounted:
            unmount(merged, detach=True)
        shutil.rmtree(base, ignore_errors=True)


def test_diff_commit_and_export_on_a_real_overlay(overlay):
    base, lower, upper, merged = overlay
    # What a container would do, through the mount.
    with open(os.path.join(merged, "etc/passwd"), "ab") as f:
        f.write(b"\napp")
    os.unlink(os.path.join(merged, "etc/shadow"))
    with open(os.path.join(merged, "etc/new"), "wb") as f:
        f.write(b"n")
    shutil.rmtree(os.path.join(merged, "opt/app"))
    os.mkdir(os.path.join(merged, "opt/app"))  # overlayfs makes it opaque
    with open(os.path.join(merged, "opt/app/a"), "wb") as f:
        f.write(b"a2")
    os.chmod(os.path.join(merged, "usr/bin/tool"), 0o755)  # metadata-only copy-up
    os.makedirs(os.path.join(merged, "root/.cache"))
    open(os.path.join(merged, "etc/hosts"), "a").close()  # the runtime's bind-mount target

    assert changes(upper, [lower]) == [
        Change("/etc", C), Change("/etc/new", A), Change("/etc/passwd", C), Change("/etc/shadow", D),
        Change("/opt", C), Change("/opt/app", C), Change("/opt/app/a", C), Change("/opt/app/sub", D),
        Change("/root", A), Change("/root/.cache", A),
        Change("/usr", C), Change("/usr/bin", C), Change("/usr/bin/tool", C),
    ]

    # Export without mounting sees exactly what the mount shows.
    assert tar_snapshot(export_rootfs([lower], upper)) == tar_snapshot(tar_tree(merged))

    # Commit: the layer applied on a copy of the image gives the container's view.
    image = os.path.join(base, "image")
    shutil.copytree(lower, image, symlinks=True)
    apply_layer(io.BytesIO(b"".join(layer_tar_from_upper(upper, [lower]))), image, WhiteoutMode.DELETE)
    view = snapshot(merged)
    del view["etc/hosts"]  # a mount placeholder is never committed
    assert snapshot(image) == view


def test_cp_through_the_mount_stays_inside(overlay):
    base, lower, upper, merged = overlay
    before = sorted(os.listdir(base))
    data = io.BytesIO()
    import tarfile
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name in ("escape/pwned", "escape/etc/pwned2"):
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
    data.seek(0)
    extract_into(merged, "/", data)
    assert os.path.exists(os.path.join(merged, "pwned")) and os.path.exists(os.path.join(merged, "etc/pwned2"))
    assert os.path.exists(os.path.join(upper, "pwned"))
    assert sorted(os.listdir(base)) == before
    assert not os.path.exists("/pwned") and not os.path.exists("/etc/pwned2")
    assert names(tar_from(merged, "/escape/opt/.")) == ["./", "./app/", "./app/a", "./app/sub/", "./app/sub/b"]
    # docker cp's own client (tar) can read what we produce.
    out = os.path.join(base, "out")
    os.mkdir(out)
    subprocess.run(["tar", "-x", "-C", out], input=b"".join(tar_from(merged, "/etc")), check=True)
    assert sorted(os.listdir(os.path.join(out, "etc"))) == ["passwd", "pwned2", "shadow"]
