"""Mount descriptions, and the one place that turns them into mount(2) calls.

Snapshotters *describe* mounts (`Mount`) and never mount; whoever needs the
filesystem (the runtime, a test, the image store reading a layer) applies
them with `mount_all` and undoes them with `unmount`.  Describing first keeps
snapshot logic testable without root and lets the runtime mount inside the
container's mount namespace.

Options use the spellings of mount(8) and containerd: flag words (`ro`, `rw`,
`bind`, `rbind`, `nosuid`, `nodev`, `noexec`, …) become mount flags; every
other option goes to the filesystem as its data string, e.g. for overlay
`lowerdir=/a:/b,upperdir=/u,workdir=/w`.

Limit worth knowing: the kernel copies at most one page (4096 bytes) of data
string, so an overlay over very many layers with long paths fails with
EINVAL.  With chain-id directory names that is about 35 layers under
/var/lib/dockyard; containerd shortens paths by chdir-ing first, which is not
safe in a threaded daemon.  Fine for now.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from dataclasses import dataclass
from typing import Iterable, Iterator

from dockyard.errors import SystemError

from dockyard.runtime.syscalls import (
    MNT_DETACH, MS_BIND, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC,
    MS_RELATIME, MS_REMOUNT, MS_STRICTATIME,
)
from dockyard.runtime import syscalls

# option word → (flags to set, flags to clear)
_FLAGS: dict[str, tuple[int, int]] = {
    "ro": (MS_RDONLY, 0),
    "rw": (0, MS_RDONLY),
    "bind": (MS_BIND, 0),
    "rbind": (MS_BIND | MS_REC, 0),
    "nosuid": (MS_NOSUID, 0),
    "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0),
    "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0),
    "exec": (0, MS_NOEXEC),
    "noatime": (MS_NOATIME, 0),
    "nodiratime": (MS_NODIRATIME, 0),
    "relatime": (MS_RELATIME, 0),
    "strictatime": (MS_STRICTATIME, 0),
    "defaults": (0, 0),
    # Propagation words: containers get every mount private first (see
    # runtime/linux.py), so per-mount propagation has nothing left to do.
    "private": (0, 0), "rprivate": (0, 0), "slave": (0, 0), "rslave": (0, 0),
    "shared": (0, 0), "rshared": (0, 0), "unbindable": (0, 0), "runbindable": (0, 0),
}


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount to perform: `mount -t <type> -o <options> <source> <target>`."""

    type: str
    source: str
    options: tuple[str, ...] = ()

    def flags_and_data(self) -> tuple[int, str]:
        flags = 0
        data: list[str] = []
        for option in self.options:
            if option in _FLAGS:
                set_, clear = _FLAGS[option]
                flags = (flags | set_) & ~clear
            else:
                data.append(option)
        return flags, ",".join(data)

    @property
    def readonly(self) -> bool:
        return bool(self.flags_and_data()[0] & MS_RDONLY)

    def to_json(self) -> dict:
        """The OCI runtime-spec form (`config.json` "mounts" entry)."""
        return {"type": self.type, "source": self.source, "options": list(self.options)}


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    """mount(2); failure → errors.SystemError naming the target and strerror."""
    try:
        syscalls.mount(source, target, fstype, flags, data)
    except OSError as e:
        raise SystemError(f"mount {fstype or ''} {source} on {target}: {os.strerror(e.errno)}") from None


def mount_all(mounts: Iterable[Mount], target: str) -> None:
    """Apply the mounts on top of each other at `target`.

    A read-only bind needs two calls: the kernel ignores MS_RDONLY on the
    first MS_BIND and only honours it on a remount.  If a later mount fails,
    those already made are undone before the error propagates.
    """
    done = 0
    try:
        for m in mounts:
            flags, data = m.flags_and_data()
            if flags & MS_BIND:
                mount(m.source, target, None, flags & ~MS_RDONLY, None)
                done += 1
                if flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC):
                    mount("", target, None, flags | MS_REMOUNT, None)
            else:
                mount(m.source, target, m.type, flags, data or None)
                done += 1
    except BaseException:
        for _ in range(done):
            _umount2(target, MNT_DETACH)
        raise


@contextlib.contextmanager
def mounted(mounts: Iterable[Mount], parent: str, prefix: str = ".mnt-") -> Iterator[str]:
    """``mounts`` on a fresh directory under ``parent`` for the length of the
    block; unmounted (lazily) and the directory removed after."""
    os.makedirs(parent, exist_ok=True)
    target = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        mount_all(mounts, target)
        try:
            yield target
        finally:
            unmount(target, detach=True)
    finally:
        os.rmdir(target)


def _umount2(target: str, flags: int) -> int:
    try:
        syscalls.umount2(target, flags)
    except OSError as e:
        return e.errno
    return 0


def unmount(target: str, detach: bool = False, all_layers: bool = True) -> None:
    """Unmount `target`; with `all_layers`, everything stacked there.

    Not being a mount point (EINVAL) or not existing (ENOENT) after the first
    is what "done" looks like; any other errno is a SystemError.
    """
    flags = MNT_DETACH if detach else 0
    first = True
    while True:
        err = _umount2(target, flags)
        if err == 0:
            first = False
            if not all_layers:
                return
            continue
        if err in (errno.EINVAL, errno.ENOENT):
            if first and err == errno.ENOENT:
                raise SystemError(f"unmount {target}: {os.strerror(err)}")
            return
        raise SystemError(f"unmount {target}: {os.strerror(err)}")


def is_mountpoint(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            real = os.path.realpath(path)
            return any(line.split()[4] == real for line in f)
    except OSError:
        return False
