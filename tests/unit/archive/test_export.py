import os
import stat

import pytest

from dockyard.archive.export import export_rootfs

from .trees import names, tar_snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (whiteout devices, trusted xattrs)")


def test_export_merges_layers_like_overlayfs(tmp_path):
    base, top, upper = (tmp_path / n for n in ("base", "top", "upper"))
    (base / "d/sub").mkdir(parents=True)
    (base / "d/sub/deep").write_bytes(b"deep")
    (base / "d/old").write_bytes(b"old")
    (base / "f").write_bytes(b"base")
    (base / "x").mkdir()
    (base / "x/in-dir").write_bytes(b"")
    (top / "d").mkdir(parents=True)
    os.setxattr(top / "d", "trusted.overlay.opaque", b"y")
    (top / "d/new").write_bytes(b"new")
    (top / "x").write_bytes(b"file over dir")
    upper.mkdir()
    os.mknod(upper / "f", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.symlink("/etc/passwd", upper / "link")
    assert names(export_rootfs([str(top), str(base)], str(upper))) == ["d/", "d/new", "link", "x"]
    snap = tar_snapshot(export_rootfs([str(top), str(base)], str(upper)))
    assert snap["x"][:2] == ("f", b"file over dir")
    assert snap["link"][:2] == ("l", "/etc/passwd")
    assert names(export_rootfs([str(base)])) == ["d/", "d/old", "d/sub/", "d/sub/deep", "f", "x/", "x/in-dir"]
