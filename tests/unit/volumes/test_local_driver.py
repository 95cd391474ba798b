"""LocalDriver on a real filesystem; the mount tests make real tmpfs and bind mounts (root)."""

import json
import os
import subprocess

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound, SystemError
from dockyard.mount import is_mountpoint
from dockyard.volumes.local import LocalDriver

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


@pytest.fixture
def base(tmp_path):
    yield tmp_path
    # Whatever a test left mounted under its directory goes, even when it failed.
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f if line.split()[4].startswith(str(tmp_path))]
    for target in sorted(targets, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


@pytest.fixture
def driver(base):
    return LocalDriver(str(base / "volumes"))


def test_create_uses_dockers_layout(driver, base):
    path = driver.create("data", {})
    assert path == str(base / "volumes" / "data" / "_data")
    assert os.path.isdir(path) and not os.path.exists(base / "volumes" / "data" / "opts.json")
    assert driver.path("data") == path and driver.options("data") == {}
    assert driver.list() == ["data"]
    assert os.listdir(base / "volumes" / ".tmp") == []


def test_create_is_idempotent_and_keeps_content(driver):
    path = driver.create("data", {})
    open(os.path.join(path, "f"), "w").close()
    assert driver.create("data", {}) == path
    assert os.listdir(path) == ["f"]


def test_options_are_kept(driver, base):
    opts = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    driver.create("t1", opts)
    assert driver.options("t1") == opts
    assert json.loads((base / "volumes" / "t1" / "opts.json").read_text()) == opts


def test_create_validates(driver, base):
    with pytest.raises(InvalidArgument):
        driver.create("../escape", {})
    with pytest.raises(InvalidArgument):
        driver.create("ok", {"bogus": "1"})
    assert driver.list() == [] and not os.path.exists(base / "escape")


def test_list_ignores_strays(driver, base):
    driver.create("v1", {})
    os.mkdir(base / "volumes" / "no-data-dir")
    (base / "volumes" / "metadata.db").write_text("")
    assert driver.list() == ["v1"]


def test_unknown_volume(driver):
    for call in (driver.path, driver.options, driver.remove):
        with pytest.raises(NotFound, match="no such volume"):
            call("nope")
    with pytest.raises(NotFound):
        driver.mount("nope", "c1")
    with pytest.raises(NotFound):
        driver.path("../volumes")


def test_remove(driver, base):
    path = driver.create("gone", {})
    os.makedirs(os.path.join(path, "a", "b"))
    driver.remove("gone")
    assert driver.list() == [] and not os.path.exists(base / "volumes" / "gone")
    assert os.listdir(base / "volumes" / ".tmp") == []


def test_leftovers_of_a_crash_are_cleaned_at_start(base):
    driver = LocalDriver(str(base / "volumes"))
    os.makedirs(base / "volumes" / ".tmp" / "half" / "_data")
    LocalDriver(driver.paths.root)
    assert os.listdir(base / "volumes" / ".tmp") == []


def test_usage_counts_hard_links_once(driver):
    path = driver.create("u1", {})
    assert driver.usage("u1") == 0
    with open(os.path.join(path, "a"), "wb") as f:
        f.write(b"x" * 1000)
    os.mkdir(os.path.join(path, "d"))
    with open(os.path.join(path, "d", "b"), "wb") as f:
        f.write(b"y" * 24)
    os.link(os.path.join(path, "a"), os.path.join(path, "d", "a-link"))
    dir_size = os.lstat(os.path.join(path, "d")).st_size
    assert driver.usage("u1") == 1000 + 24 + dir_size
    assert driver.usage("missing") == -1


def test_plain_volume_mount_counts_refs(driver):
    path = driver.create("plain", {})
    assert driver.mount("plain", "c1") == path
    assert driver.active("plain") == 1
    with pytest.raises(Conflict):
        driver.remove("plain")
    driver.unmount("plain", "c1")
    driver.unmount("plain", "c1")  # one too many: ignored
    assert driver.active("plain") == 0
    driver.remove("plain")


@needs_root
def test_tmpfs_mounted_at_first_use_unmounted_at_last_release(driver):
    path = driver.create("scratch", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=0750"})
    assert not is_mountpoint(path)
    assert driver.mount("scratch", "c1") == path
    assert is_mountpoint(path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o750"
    with open(os.path.join(path, "f"), "w") as f:
        f.write("hello")
    driver.mount("scratch", "c2")
    driver.mount("scratch", "c2")  # same container, second destination
    driver.unmount("scratch", "c1")
    driver.unmount("scratch", "c2")
    assert is_mountpoint(path) and open(os.path.join(path, "f")).read() == "hello"
    driver.unmount("scratch", "c2")
    assert not is_mountpoint(path)
    assert os.listdir(path) == []  # the tmpfs content went with it
    driver.remove("scratch")


@needs_root
def test_tmpfs_size_is_enforced(driver):
    path = driver.create("small", {"type": "tmpfs", "device": "tmpfs", "o": "size=64k"})
    driver.mount("small", "c1")
    try:
        with pytest.raises(OSError):
            with open(os.path.join(path, "big"), "wb") as f:
                f.write(b"\0" * (256 * 1024))
                f.flush()
                os.fsync(f.fileno())
    finally:
        driver.unmount("small", "c1")


@needs_root
def test_bind_of_a_host_directory(driver, base):
    host = base / "host"
    host.mkdir()
    (host / "keep").write_text("precious")
    path = driver.create("hostdir", {"type": "none", "o": "bind", "device": str(host)})
    driver.mount("hostdir", "c1")
    assert os.listdir(path) == ["keep"]
    with open(os.path.join(path, "new"), "w") as f:
        f.write("x")
    assert (host / "new").read_text() == "x"
    driver.unmount("hostdir", "c1")
    assert not is_mountpoint(path) and os.listdir(path) == []


@needs_root
def test_read_only_bind(driver, base):
    host = base / "ro-host"
    host.mkdir()
    path = driver.create("robind", {"type": "none", "o": "bind,ro", "device": str(host)})
    driver.mount("robind", "c1")
    try:
        with pytest.raises(OSError):
            open(os.path.join(path, "f"), "w")
    finally:
        driver.unmount("robind", "c1")


@needs_root
def test_remove_never_deletes_through_a_mount(driver, base):
    host = base / "host2"
    host.mkdir()
    (host / "keep").write_text("precious")
    path = driver.create("stale", {"type": "none", "o": "bind", "device": str(host)})
    # Mounted by a previous daemon: this driver holds no refs for it.
    subprocess.run(["mount", "--bind", str(host), path], check=True)
    driver.remove("stale")
    assert (host / "keep").read_text() == "precious"
    assert driver.list() == []


@needs_root
def test_mount_after_restart_adopts_the_existing_mount(driver, base):
    path = driver.create("kept", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    driver.mount("kept", "c1")
    (base / "volumes" / "kept" / "_data" / "f").write_text("still here")
    restarted = LocalDriver(driver.paths.root)  # counts start at zero
    restarted.mount("kept", "c2")
    with open("/proc/self/mountinfo") as f:
        assert sum(1 for line in f if line.split()[4] == path) == 1  # not stacked
    assert open(os.path.join(path, "f")).read() == "still here"
    restarted.unmount("kept", "c2")
    assert not is_mountpoint(path)


@needs_root
def test_failed_mount_is_a_system_error_and_holds_no_ref(driver, base):
    driver.create("broken", {"type": "none", "o": "bind", "device": str(base / "does-not-exist")})
    with pytest.raises(SystemError, match="failed to mount local volume"):
        driver.mount("broken", "c1")
    assert driver.active("broken") == 0
    driver.remove("broken")


@needs_root
def test_password_is_masked_in_mount_errors(driver):
    driver.create("cifs", {"type": "cifs", "device": "//127.0.0.1/share", "o": "username=u,password=hunter2"})
    with pytest.raises(SystemError) as e:
        driver.mount("cifs", "c1")
    assert "hunter2" not in e.value.message
