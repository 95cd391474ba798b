import hashlib
import io
import os
import stat

import pytest

from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument
from dockyard.snapshots.apply import Compression, WhiteoutMode, apply_layer, chain_id, chain_ids

from .layers import layer

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, chown, trusted xattrs)")


def apply(data: bytes, target, mode=WhiteoutMode.DELETE):
    return apply_layer(io.BytesIO(data), str(target), mode)


def test_chain_ids_follow_the_oci_spec():
    d0, d1, d2 = (Digest.from_bytes(x) for x in (b"0", b"1", b"2"))
    assert chain_id(None, d0) == d0
    c1 = Digest("sha256", hashlib.sha256(f"{d0} {d1}".encode()).hexdigest())
    c2 = Digest("sha256", hashlib.sha256(f"{c1} {d2}".encode()).hexdigest())
    assert chain_ids([d0, d1, d2]) == [d0, c1, c2]
    assert chain_ids([str(d0), str(d1)]) == [d0, c1]


@pytest.mark.parametrize("gz", [False, True])
def test_files_dirs_links_and_diff_id(tmp_path, gz):
    data = layer(
        ("dir", "etc"),
        ("file", "etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o600),
        ("file", "bin/tool", b"#!", 0o4755),
        ("symlink", "bin/alias", "tool"),
        ("hardlink", "bin/tool2", "bin/tool"),
        gzip=gz,
    )
    result = apply(data, tmp_path)
    plain = layer(("dir", "etc"), ("file", "etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o600), ("file", "bin/tool", b"#!", 0o4755), ("symlink", "bin/alias", "tool"), ("hardlink", "bin/tool2", "bin/tool"))
    assert result.diff_id == Digest.from_bytes(plain)
    assert result.compression is (Compression.GZIP if gz else Compression.NONE)
    assert (tmp_path / "etc/passwd").read_bytes().startswith(b"root")
    assert stat.S_IMODE(os.stat(tmp_path / "etc/passwd").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "bin/tool").st_mode) == 0o4755
    assert os.readlink(tmp_path / "bin/alias") == "tool"
    assert os.stat(tmp_path / "bin/tool").st_ino == os.stat(tmp_path / "bin/tool2").st_ino
    assert os.stat(tmp_path / "etc").st_mtime == 1_700_000_000
    assert result.size == len(b"root:x:0:0::/root:/bin/sh\n") + 2


def test_whiteouts_delete_in_native_mode(tmp_path):
    apply(layer(("file", "a/keep", b"1"), ("file", "a/gone", b"2"), ("file", "d/old", b"3")), tmp_path)
    apply(layer(("whiteout", "a", "gone"), ("dir", "d"), ("file", "d/new", b"4"), ("opaque", "d")), tmp_path)
    assert sorted(os.listdir(tmp_path / "a")) == ["keep"]
    # Opaque hides the lower layer's entries, not the ones this layer wrote.
    assert sorted(os.listdir(tmp_path / "d")) == ["new"]


@requires_root
def test_whiteouts_become_overlay_markers(tmp_path):
    apply(layer(("whiteout", "a", "gone"), ("dir", "d"), ("opaque", "d")), tmp_path, WhiteoutMode.OVERLAY)
    st = os.lstat(tmp_path / "a/gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "d", "trusted.overlay.opaque") == b"y"


@requires_root
def test_ownership_devices_and_xattrs(tmp_path):
    data = layer(("char", "dev/null", 1, 3), ("xattr-file", "f", b"x", {"user.test": "v", "trusted.overlay.opaque": "y"}))
    apply(data, tmp_path)
    st = os.lstat(tmp_path / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    try:
        assert os.getxattr(tmp_path / "f", "user.test") == b"v"
    except OSError:
        pytest.skip("filesystem without user xattrs")
    with pytest.raises(OSError):
        os.getxattr(tmp_path / "f", "trusted.overlay.opaque")  # forged overlay xattrs are dropped


@pytest.mark.parametrize(
    "entries",
    [
        [("file", "../evil", b"x")],
        [("file", "a/../../evil", b"x")],
        [("file", "/etc/evil", b"x")],
        [("hardlink", "h", "../../etc/passwd")],
        [("symlink", "escape", "/"), ("file", "escape/evil", b"x")],
        [("symlink", "up", "../.."), ("file", "up/evil", b"x")],
        [("dir", "d"), ("symlink", "d/x", "../../.."), ("file", "d/x/evil", b"x")],
    ],
)
def test_hostile_layers_are_rejected(tmp_path, entries):
    target = tmp_path / "root"
    target.mkdir()
    with pytest.raises(InvalidArgument):
        apply(layer(*entries), target)
    assert not (tmp_path / "evil").exists()
    assert not os.path.exists("/evil") and not os.path.exists("/etc/evil")


def test_symlink_inside_the_root_is_followed(tmp_path):
    apply(layer(("dir", "usr/bin"), ("symlink", "bin", "usr/bin"), ("file", "bin/sh", b"x")), tmp_path)
    assert (tmp_path / "usr/bin/sh").read_bytes() == b"x"


def test_existing_symlink_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "outside"
    outside.write_bytes(b"safe")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(str(outside), root / "f")
    apply(layer(("file", "f", b"overwritten")), root)
    assert outside.read_bytes() == b"safe"
    assert (root / "f").read_bytes() == b"overwritten" and not os.path.islink(root / "f")


def test_garbage_is_invalid(tmp_path):
    with pytest.raises(InvalidArgument):
        apply(b"\x1f\x8b" + b"not really gzip" * 10, tmp_path)
