import io
import os

import pytest

from dockyard.archive.copy_in import extract_into
from dockyard.errors import InvalidArgument, NotFound

from .trees import snapshot, tar_bytes

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown)")
pytestmark = requires_root


@pytest.fixture
def outer(tmp_path):
    """tmp_path/outer holds the container root and a sentinel, watched for stray writes."""
    out = tmp_path / "outer"
    root = out / "root"
    (root / "etc").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "etc/passwd").write_bytes(b"root:x:0:0:root:/root:/bin/sh\napp:x:1234:4321::/home/app:/bin/sh\n")
    os.symlink("/", root / "escape")
    os.symlink("../../../..", root / "tmp/up")
    os.symlink("/tmp", root / "tmplink")
    (out / "sentinel").write_bytes(b"keep")
    return out


def extract(outer, path, data, **kw):
    extract_into(str(outer / "root"), path, io.BytesIO(data), **kw)


def outside(outer) -> list[str]:
    return sorted(os.listdir(outer))


def test_files_dirs_and_metadata(outer):
    extract(outer, "/tmp", tar_bytes(("dir", "d"), ("file", "d/f", b"hi", 0o4750), ("symlink", "d/l", "f"), ("hardlink", "d/h", "d/f")))
    root = outer / "root"
    assert (root / "tmp/d/f").read_bytes() == b"hi"
    st = os.stat(root / "tmp/d/f")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1000, 0o4750)
    assert os.readlink(root / "tmp/d/l") == "f"
    assert os.stat(root / "tmp/d/h").st_ino == st.st_ino
    assert os.stat(root / "tmp/d").st_mtime == 1_700_000_000


def test_destination_must_exist_and_be_a_directory(outer):
    with pytest.raises(NotFound) as err:
        extract(outer, "/nope", tar_bytes(("file", "f", b"")), container="c1")
    assert err.value.message == "Could not find the file /nope in container c1"
    with pytest.raises(InvalidArgument, match="extraction point is not a directory"):
        extract(outer, "/etc/passwd", tar_bytes(("file", "f", b"")))


def test_destination_through_a_symlink_lands_inside(outer):
    extract(outer, "/tmplink", tar_bytes(("file", "f", b"1")))
    assert (outer / "root/tmp/f").read_bytes() == b"1"


def test_container_symlink_to_root_cannot_lead_outside(outer):
    before = outside(outer)
    extract(outer, "/", tar_bytes(("file", "escape/pwned", b"x"), ("file", "tmp/up/pwned2", b"y")))
    root = outer / "root"
    # /escape -> / and /tmp/up -> ../../../.. resolve to the container's root.
    assert (root / "pwned").read_bytes() == b"x"
    assert (root / "pwned2").read_bytes() == b"y"
    assert outside(outer) == before
    extract(outer, "/escape", tar_bytes(("file", "f3", b"z")))
    assert (root / "f3").read_bytes() == b"z"
    assert outside(outer) == before


def test_symlink_from_the_same_tar_cannot_lead_outside(outer):
    before = outside(outer)
    extract(outer, "/tmp", tar_bytes(("symlink", "out", "/../../.."), ("file", "out/evil", b"x"), ("dir", "out/d"), ("file", "out/d/evil2", b"y")))
    root = outer / "root"
    assert (root / "evil").read_bytes() == b"x" and (root / "d/evil2").read_bytes() == b"y"
    assert outside(outer) == before


def test_dotdot_names_are_refused_before_anything_is_written(outer):
    before = snapshot(outer)
    with pytest.raises(InvalidArgument, match="outside of the extraction directory"):
        extract(outer, "/tmp", tar_bytes(("file", "good", b"1"), ("file", "../../../../../sentinel", b"x")))
    with pytest.raises(InvalidArgument):
        extract(outer, "/tmp", tar_bytes(("file", "a/../../b", b"1")))
    assert snapshot(outer) == before


def test_absolute_names_are_relative_to_the_destination(outer):
    before = outside(outer)
    extract(outer, "/tmp", tar_bytes(("file", "/abs", b"1"), ("file", "/../../rooted", b"2"), ("file", "./dot", b"3")))
    root = outer / "root"
    assert {p: (root / "tmp" / p).read_bytes() for p in ("abs", "rooted", "dot")} == {"abs": b"1", "rooted": b"2", "dot": b"3"}
    assert outside(outer) == before


def test_hard_links_only_to_targets_inside(outer):
    before = snapshot(outer)
    with pytest.raises(InvalidArgument):
        extract(outer, "/tmp", tar_bytes(("hardlink", "h", "../../sentinel")))
    assert snapshot(outer) == before
    # Through a container symlink: resolved inside, so it names root/etc/passwd.
    extract(outer, "/tmp", tar_bytes(("hardlink", "h", "up/etc/passwd")))
    root = outer / "root"
    assert os.stat(root / "tmp/h").st_ino == os.stat(root / "etc/passwd").st_ino
    assert os.stat(outer / "sentinel").st_nlink == 1


def test_replacing_entries_and_no_overwrite_dir_non_dir(outer):
    root = outer / "root"
    (root / "tmp/d").mkdir()
    (root / "tmp/d/old").write_bytes(b"")
    (root / "tmp/f").write_bytes(b"")
    with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
        extract(outer, "/tmp", tar_bytes(("file", "d", b"x")), no_overwrite_dir_non_dir=True)
    with pytest.raises(InvalidArgument, match="cannot overwrite non-directory"):
        extract(outer, "/tmp", tar_bytes(("dir", "f")), no_overwrite_dir_non_dir=True)
    extract(outer, "/tmp", tar_bytes(("dir", "d"), ("file", "d/new", b"")))
    assert sorted(os.listdir(root / "tmp/d")) == ["new", "old"]  # directories merge
    extract(outer, "/tmp", tar_bytes(("file", "d", b"now a file"), ("dir", "f")))
    assert (root / "tmp/d").read_bytes() == b"now a file" and (root / "tmp/f").is_dir()
    # A symlink at the last component is replaced, not written through.
    extract(outer, "/", tar_bytes(("file", "escape", b"plain")))
    assert (root / "escape").read_bytes() == b"plain"


def test_copy_uid_gid_uses_the_container_user(outer):
    extract(outer, "/tmp", tar_bytes(("file", "f", b"")), copy_uid_gid=True, user="app")
    st = os.stat(outer / "root/tmp/f")
    assert (st.st_uid, st.st_gid) == (1234, 4321)


def test_compressed_and_corrupt_input(outer):
    import gzip
    extract(outer, "/tmp", gzip.compress(tar_bytes(("file", "gz", b"1"))))
    assert (outer / "root/tmp/gz").read_bytes() == b"1"
    with pytest.raises(InvalidArgument, match="invalid tar"):
        extract(outer, "/tmp", tar_bytes(("file", "f", b"123"))[:700])
