import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.users import resolve

PASSWD = b"""root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/bin/false
app:x:1000:1000::/home/app:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = b"""root:x:0:
www-data:x:33:
app:x:1000:
staff:x:50:app,www-data
nogroup:x:65534:
"""


@pytest.mark.parametrize("spec, uid, gid, extra, home", [
    ("", 0, 0, (), "/root"),
    ("root", 0, 0, (), "/root"),
    ("app", 1000, 1000, (50,), "/home/app"),
    ("app:staff", 1000, 50, (), "/home/app"),
    ("1000", 1000, 1000, (50,), "/home/app"),
    ("4242", 4242, 0, (), "/"),
    ("4242:4343", 4242, 4343, (), "/"),
    ("65534:65534", 65534, 65534, (), "/home"),
    ("www-data", 33, 33, (50,), "/var/www"),
])
def test_resolve(spec, uid, gid, extra, home):
    u = resolve(spec, PASSWD, GROUP)
    assert (u.uid, u.gid, u.additional_gids, u.home) == (uid, gid, extra, home)


def test_unknown_names():
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        resolve("ghost", PASSWD, GROUP)
    with pytest.raises(InvalidArgument, match="unable to find group ghosts"):
        resolve("app:ghosts", PASSWD, GROUP)


def test_no_passwd_file_numeric_ids_still_work():
    assert resolve("123:456", None, None).uid == 123
    with pytest.raises(InvalidArgument):
        resolve("root2", None, None)
