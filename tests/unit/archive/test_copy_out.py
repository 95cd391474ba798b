import os
import socket

import pytest

from dockyard.archive.copy_out import tar_from, tar_tree
from dockyard.errors import NotFound

from .trees import names, read_tar


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "etc/sub").mkdir(parents=True)
    (r / "etc/passwd").write_bytes(b"root\n")
    (r / "etc/sub/x").write_bytes(b"x")
    os.link(r / "etc/passwd", r / "etc/passwd-hard")
    os.symlink("/", r / "etc/escape")
    os.symlink("/etc", r / "lnk")
    (tmp_path / "secret").write_bytes(b"outside")
    return r


@pytest.mark.parametrize("path, expected", [
    ("/etc", ["etc/", "etc/escape", "etc/passwd", "etc/passwd-hard", "etc/sub/", "etc/sub/x"]),
    ("etc/", ["etc/", "etc/escape", "etc/passwd", "etc/passwd-hard", "etc/sub/", "etc/sub/x"]),
    ("/etc/.", ["./", "./escape", "./passwd", "./passwd-hard", "./sub/", "./sub/x"]),
    ("/etc/passwd", ["passwd"]),
    ("/lnk", ["lnk"]),
    ("/lnk/", ["lnk/", "lnk/escape", "lnk/passwd", "lnk/passwd-hard", "lnk/sub/", "lnk/sub/x"]),
    ("/lnk/.", ["./", "./escape", "./passwd", "./passwd-hard", "./sub/", "./sub/x"]),
    ("/etc/escape/etc/sub", ["sub/", "sub/x"]),
])
def test_entry_names_follow_dockers_archive_api(root, path, expected):
    assert names(tar_from(str(root), path)) == expected


def test_root_entries(root):
    assert names(tar_from(str(root), "/"))[:3] == ["/", "/etc/", "/etc/escape"]


def test_links_are_stored_as_links_and_never_followed(root):
    members = {m.name: m for m in read_tar(tar_from(str(root), "/etc"))}
    assert members["etc/escape"].issym() and members["etc/escape"].linkname == "/"
    assert members["etc/passwd-hard"].islnk() and members["etc/passwd-hard"].linkname == "etc/passwd"
    assert members["etc/passwd"].uname == "" and members["etc/passwd"].uid == os.getuid()
    assert not any("secret" in n for n in members)


def test_missing_path_fails_before_the_first_byte(root):
    with pytest.raises(NotFound, match="Could not find the file /nope in container c1"):
        tar_from(str(root), "/nope", container="c1")


def test_sockets_are_skipped(root):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(root / "etc/sock"))
        assert "etc/sock" not in names(tar_from(str(root), "/etc"))
        assert names(tar_from(str(root), "/etc/sock")) == []
    finally:
        s.close()


def test_file_contents_stream_in_pieces(root):
    (root / "big").write_bytes(os.urandom(3 << 20) + b"tail")
    chunks = list(tar_from(str(root), "/big"))
    assert max(len(c) for c in chunks) <= 1 << 20
    member, = read_tar(chunks)
    assert member.size == (3 << 20) + 4


def test_tar_tree_names_relative_without_root(root):
    assert names(tar_tree(str(root)))[:2] == ["etc/", "etc/escape"]
