"""The native (copying) snapshotter, for where overlayfs cannot be used.

Every tree is complete: a committed snapshot is a copy of its parent with the
layer applied on top (deletions performed, opaque directories emptied), and a
container's active snapshot is a copy of its image's top snapshot, mounted
with a bind mount.  Costs disk space and time; needs nothing of the kernel.
Docker calls its equivalent driver "vfs".
"""

from __future__ import annotations

import os
import stat

from dockyard.mount import Mount
from dockyard.paths import SnapshotPaths
from dockyard.snapshots.apply import WhiteoutMode
from dockyard.snapshots.base import LocalSnapshotter


class NativeSnapshotter(LocalSnapshotter):
    driver_name = "vfs"
    whiteout_mode = WhiteoutMode.DELETE

    def _fill_active(self, snapshot_dir: str, parent: str | None) -> None:
        self._fill_for_apply(SnapshotPaths.fs(snapshot_dir), parent)

    def _fill_for_apply(self, fs: str, parent: str | None) -> None:
        if parent is None:
            os.mkdir(fs, 0o755)
        else:
            copy_tree(SnapshotPaths.fs(self._existing_committed(parent)), fs)

    def _active_mounts(self, snapshot_dir: str, parent: str | None) -> list[Mount]:
        return [Mount("bind", SnapshotPaths.fs(snapshot_dir), ("rbind", "rw"))]

    def _view_mounts(self, parent: str) -> list[Mount]:
        return [Mount("bind", SnapshotPaths.fs(self._existing_committed(parent)), ("rbind", "ro"))]

    def layer_dirs(self, name: str) -> list[str]:
        # The top tree is already the merged view.
        return [SnapshotPaths.fs(self._existing_committed(name))]


def copy_tree(src: str, dst: str) -> None:
    """Copy a tree exactly: owners, modes, times, xattrs, devices, hard links."""
    inodes: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, os.stat_result]] = []

    def copy_entry(s: str, d: str, st: os.stat_result) -> None:
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(d, 0o700)
            dirs.append((d, st))
            with os.scandir(s) as it:
                for entry in it:
                    copy_entry(entry.path, os.path.join(d, entry.name), entry.stat(follow_symlinks=False))
            _copy_xattrs(s, d)
            os.lchown(d, st.st_uid, st.st_gid)
            return
        if st.st_nlink > 1:
            first = inodes.get((st.st_dev, st.st_ino))
            if first is not None:
                os.link(first, d, follow_symlinks=False)
                return
            inodes[(st.st_dev, st.st_ino)] = d
        if stat.S_ISREG(mode):
            with open(s, "rb") as fin:
                fd = os.open(d, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as fout:
                    # copy_file_range shares extents where the filesystem can.
                    remaining = st.st_size
                    while remaining > 0:
                        try:
                            n = os.copy_file_range(fin.fileno(), fout.fileno(), remaining)
                        except OSError:
                            n = 0
                        if n == 0:
                            fout.write(fin.read())
                            break
                        remaining -= n
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(s), d)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(d, mode, st.st_rdev)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(d, 0o600)
        else:
            return  # sockets are not content
        _copy_xattrs(s, d)
        os.lchown(d, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(mode):
            os.chmod(d, stat.S_IMODE(mode))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    copy_entry(src, dst, os.lstat(src))
    for d, st in reversed(dirs):
        os.chmod(d, stat.S_IMODE(st.st_mode))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError:
            pass
