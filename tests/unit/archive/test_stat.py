import base64
import json
import os
import socket

import pytest

from dockyard.archive.stat import (
    MODE_DIR, MODE_SYMLINK, PathStat, container_abs, encode_header, go_file_mode, path_stat,
)
from dockyard.errors import NotFound


@pytest.mark.parametrize("given, expected", [
    ("etc", "/etc"),
    ("/etc/", "/etc/"),
    ("/etc/.", "/etc/."),
    ("/etc/./", "/etc/."),
    ("etc/../var//log", "/var/log"),
    ("/", "/"),
    ("//", "/"),
    (".", "/."),
    ("/../../etc", "/etc"),
])
def test_container_abs_keeps_trailing_slash_and_dot(given, expected):
    assert container_abs(given) == expected


def test_go_file_mode_bits():
    assert go_file_mode(0o040755) == MODE_DIR | 0o755
    assert go_file_mode(0o120777) == MODE_SYMLINK | 0o777
    assert go_file_mode(0o100644) == 0o644
    assert go_file_mode(0o104755) == (1 << 23) | 0o755  # setuid
    assert go_file_mode(0o041777) == MODE_DIR | (1 << 20) | 0o777  # sticky /tmp
    assert go_file_mode(0o020666) == (1 << 26) | (1 << 21) | 0o666  # char device


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc/passwd").write_bytes(b"root:x:0:0\n")
    os.chmod(r / "etc/passwd", 0o644)
    os.utime(r / "etc/passwd", ns=(1_700_000_000_500_000_000, 1_700_000_000_500_000_000))
    os.symlink("/", r / "escape")
    os.symlink("../../../../etc/passwd", r / "etc/up")
    os.symlink("/etc", r / "etclink")
    return r


def test_stat_of_a_file(root):
    s = path_stat(str(root), "/etc/passwd")
    assert s == PathStat("passwd", 11, 0o644, "2023-11-14T22:13:20.5Z", "")


def test_stat_of_a_directory_and_of_the_root(root):
    assert path_stat(str(root), "etc/").name == "etc"
    assert path_stat(str(root), "/etc").is_dir
    assert path_stat(str(root), "/").name == "/"
    assert path_stat(str(root), "/etc/.").name == "."


def test_symlinks_are_not_followed_and_their_target_is_resolved_inside(root):
    s = path_stat(str(root), "/escape")
    assert s.mode & MODE_SYMLINK and s.link_target == "/"
    assert path_stat(str(root), "/etc/up").link_target == "/etc/passwd"
    followed = path_stat(str(root), "/etc/up", follow_link=True)
    assert followed.name == "up" and followed.size == 11 and followed.link_target == ""
    # A directory part that is a symlink is followed, inside the root.
    assert path_stat(str(root), "/escape/etc/passwd").size == 11
    assert path_stat(str(root), "/etclink/").is_dir


def test_missing_path_is_not_found_with_dockers_message(root):
    with pytest.raises(NotFound) as err:
        path_stat(str(root), "/nope", container="abc123")
    assert err.value.message == "Could not find the file /nope in container abc123"
    with pytest.raises(NotFound):
        path_stat(str(root), "/etc/passwd/x")


def test_socket_and_header_encoding(root, tmp_path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(root / "sock"))
        assert path_stat(str(root), "/sock").mode & (1 << 24)
    finally:
        s.close()
    header = encode_header(PathStat("passwd", 11, 0o644, "2023-11-14T22:13:20.5Z", ""))
    assert json.loads(base64.b64decode(header)) == {
        "name": "passwd", "size": 11, "mode": 420, "mtime": "2023-11-14T22:13:20.5Z", "linkTarget": "",
    }
