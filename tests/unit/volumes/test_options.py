"""Pure parts of the local driver: names, options, mount descriptions."""

import pytest

from dockyard.errors import InvalidArgument, SystemError
from dockyard.mount import Mount
from dockyard.volumes.local import MountOptions, resolve_addr, validate_name


@pytest.mark.parametrize("name", ["ab", "data", "my_vol-1.2", "A0", "a..b", "0" * 64])
def test_valid_names(name):
    validate_name(name)


@pytest.mark.parametrize("name", ["/host/dir", "a/b", "..", "../x", ".hidden", "-x", "_x", "a b", "a:b", "é1", ""])
def test_invalid_names(name):
    with pytest.raises(InvalidArgument) as e:
        validate_name(name)
    assert e.value.message == (
        f'"{name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. '
        "If you intended to pass a host directory, use absolute path"
    )


def test_one_character_is_too_short():
    with pytest.raises(InvalidArgument, match="too short"):
        validate_name("a")


def test_no_options_is_a_plain_directory():
    assert MountOptions.parse({}) is None


def test_tmpfs_options():
    opts = MountOptions.parse({"type": "tmpfs", "device": "tmpfs", "o": "size=100m,uid=1000"})
    assert opts == MountOptions("tmpfs", "tmpfs", "size=100m,uid=1000")
    m = opts.describe()
    assert m == Mount("tmpfs", "tmpfs", ("size=100m", "uid=1000"))
    assert m.flags_and_data() == (0, "size=100m,uid=1000")


def test_bind_options():
    m = MountOptions.parse({"type": "none", "o": "bind,ro", "device": "/srv/x"}).describe()
    assert m.source == "/srv/x" and m.options == ("bind", "ro")
    assert m.readonly


@pytest.mark.parametrize("options, message", [
    ({"foo": "bar"}, 'invalid option: "foo"'),
    ({"type": "tmpfs"}, 'missing required option: "device"'),
    ({"device": "tmpfs"}, 'missing required option: "type"'),
    ({"o": "size=1m"}, 'missing required option: "device"'),
    ({"o": "size=1m", "device": "x"}, 'missing required option: "type"'),
    ({"size": "10m"}, "quota size requested but no quota support"),
])
def test_bad_options(options, message):
    with pytest.raises(InvalidArgument) as e:
        MountOptions.parse(options)
    assert e.value.message == message


def test_nfs_addr_is_resolved_other_types_untouched():
    opts = MountOptions("nfs", ":/export", "addr=nas.example,rw,nfsvers=4")
    resolved = resolve_addr(opts, resolve=lambda host: {"nas.example": "10.1.2.3"}[host])
    assert resolved.o == "addr=10.1.2.3,rw,nfsvers=4"
    assert resolve_addr(MountOptions("nfs", ":/e", "addr=10.0.0.1"), resolve=None) == MountOptions("nfs", ":/e", "addr=10.0.0.1")
    tmpfs = MountOptions("tmpfs", "tmpfs", "addr=whatever")
    assert resolve_addr(tmpfs, resolve=None) is tmpfs


def test_nfs_unresolvable_is_a_system_error():
    def fail(host):
        raise OSError("no such host")

    with pytest.raises(SystemError, match="resolving"):
        resolve_addr(MountOptions("nfs", ":/e", "addr=nowhere"), resolve=fail)
