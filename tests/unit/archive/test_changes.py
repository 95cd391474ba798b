import io
import os
import shutil
import stat

import pytest

from dockyard.archive.changes import Change, ChangeKind, changes, layer_tar_from_upper
from dockyard.archive.export import export_rootfs
from dockyard.snapshots.apply import WhiteoutMode, apply_layer

from .trees import names, snapshot, tar_snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (whiteout devices, trusted xattrs)")

C, A, D = ChangeKind.MODIFIED, ChangeKind.ADDED, ChangeKind.DELETED


def whiteout(path):
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def opaque(path):
    os.setxattr(path, "trusted.overlay.opaque", b"y")


@pytest.fixture
def layers(tmp_path):
    """An image of two layers and a container's upper directory, built by hand the way overlayfs writes them."""
    base, top, upper = (tmp_path / n for n in ("base", "top", "upper"))
    for d in (base, top, upper):
        d.mkdir()
    for p in ("etc", "var/lib", "opt/app/sub", "gone-in-image"):
        (base / p).mkdir(parents=True)
    (base / "etc/passwd").write_bytes(b"root")
    (base / "etc/shadow").write_bytes(b"x")
    (base / "opt/app/a").write_bytes(b"a")
    (base / "opt/app/sub/b").write_bytes(b"b")
    (base / "var/lib/db").write_bytes(b"db")
    (top / "etc").mkdir()
    whiteout(top / "gone-in-image")

    # The container: edits /etc/passwd, adds /etc/new, deletes /etc/shadow,
    # recreates /opt/app with one file, adds /home/u/f, re-adds /gone-in-image,
    # and has the runtime's /etc/hosts and /proc placeholders.
    (upper / "etc").mkdir()
    (upper / "etc/passwd").write_bytes(b"root2")
    (upper / "etc/new").write_bytes(b"n")
    whiteout(upper / "etc/shadow")
    (upper / "etc/hosts").write_bytes(b"")
    (upper / "proc").mkdir()
    (upper / "opt/app").mkdir(parents=True)
    opaque(upper / "opt/app")
    (upper / "opt/app/a").write_bytes(b"a2")
    (upper / "home/u").mkdir(parents=True)
    (upper / "home/u/f").write_bytes(b"f")
    (upper / "gone-in-image").write_bytes(b"back")
    return upper, [str(top), str(base)]


def test_changes_like_docker_diff(layers):
    upper, lowers = layers
    assert changes(str(upper), lowers) == [
        Change("/etc", C),
        Change("/etc/new", A),
        Change("/etc/passwd", C),
        Change("/etc/shadow", D),
        Change("/gone-in-image", A),  # the image had deleted it
        Change("/home", A),
        Change("/home/u", A),
        Change("/home/u/f", A),
        Change("/opt", C),
        Change("/opt/app", C),
        Change("/opt/app/a", C),
        Change("/opt/app/sub", D),  # hidden by the opaque directory
    ]
    assert Change("/etc", C).to_api() == {"Path": "/etc", "Kind": 0}


def test_placeholders_count_when_not_empty_or_not_listed(layers):
    upper, lowers = layers
    (upper / "etc/hosts").write_bytes(b"127.0.0.1 edited")
    (upper / "proc/x").write_bytes(b"")
    found = {c.path: c.kind for c in changes(str(upper), lowers)}
    assert found["/etc/hosts"] == A and found["/proc"] == A
    (upper / "etc/hosts").write_bytes(b"")
    os.rmdir(upper / "proc/x") if (upper / "proc/x").is_dir() else os.unlink(upper / "proc/x")
    found = {c.path: c.kind for c in changes(str(upper), lowers, mount_points=())}
    assert found["/etc/hosts"] == A and found["/proc"] == A


def test_a_directory_only_copied_up_is_not_a_change(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/hosts").write_bytes(b"")  # the runtime's mount placeholder
    assert changes(str(upper), [str(lower)]) == []
    os.chmod(upper / "etc", 0o700)
    assert changes(str(upper), [str(lower)]) == [Change("/etc", C)]


def test_layer_tar_names_whiteouts_and_opaque_markers(layers):
    upper, lowers = layers
    assert names(layer_tar_from_upper(str(upper), lowers)) == [
        "etc/", "etc/new", "etc/passwd", "etc/.wh.shadow",
        "gone-in-image",
        "home/", "home/u/", "home/u/f",
        "opt/", "opt/app/", "opt/app/.wh..wh..opq", "opt/app/a",
    ]


def test_layer_round_trip_gives_the_merged_view(layers, tmp_path):
    upper, lowers = layers
    image = tmp_path / "image"
    image.mkdir()
    # The image flattened, then the container's layer on top, deletions performed.
    apply_layer(io.BytesIO(b"".join(export_rootfs(lowers))), str(image), WhiteoutMode.DELETE)
    flat = tmp_path / "flat"
    shutil.copytree(image, flat, symlinks=True)
    apply_layer(io.BytesIO(b"".join(layer_tar_from_upper(str(upper), lowers))), str(flat), WhiteoutMode.DELETE)
    merged = tar_snapshot(export_rootfs(lowers, str(upper)))
    for placeholder in ("etc/hosts", "proc"):
        merged.pop(placeholder)  # runtime mount targets: exported, never committed
    assert snapshot(flat) == merged
    assert "gone-in-image" not in snapshot(image) and (flat / "gone-in-image").read_bytes() == b"back"
