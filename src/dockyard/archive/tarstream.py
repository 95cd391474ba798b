"""Writing a tar stream one member at a time, without holding it in memory.

`tarfile.TarFile.addfile` writes a member's whole body before returning,
which would make a generator buffer entire files; `TarWriter` instead yields
the header, then the body in chunks, then the padding, so a caller can send
each piece as it comes (an HTTP chunk, a pipe write).

Headers follow moby's archive package, so that a tar from dockyard and one
from docker list the same way: PAX format; uid and gid numeric, user and
group names empty; mtime truncated to the second, no atime/ctime; a
directory's name ends in ``/``; a second name for an inode already written
becomes a hard link to the first; ``security.capability`` travels as the PAX
record ``SCHILY.xattr.security.capability``; sockets are skipped (they
cannot be recreated from a tar).
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import Iterator

_BLOCK = 512
_CHUNK = 1 << 20
_END = b"\0" * (2 * _BLOCK)
_CAPABILITY_XATTR = "security.capability"
_XATTR_PAX_PREFIX = "SCHILY.xattr."

_TYPES = (
    (stat.S_ISDIR, tarfile.DIRTYPE),
    (stat.S_ISREG, tarfile.REGTYPE),
    (stat.S_ISLNK, tarfile.SYMTYPE),
    (stat.S_ISCHR, tarfile.CHRTYPE),
    (stat.S_ISBLK, tarfile.BLKTYPE),
    (stat.S_ISFIFO, tarfile.FIFOTYPE),
)


def tar_type(st: os.stat_result) -> bytes | None:
    """The tar entry type for a file of this mode; None for what tar cannot hold."""
    for test, kind in _TYPES:
        if test(st.st_mode):
            return kind
    return None


def header(host_path: str, name: str, st: os.stat_result) -> tarfile.TarInfo | None:
    """The tar header describing the file at `host_path` (lstat'ed as `st`) as `name`."""
    kind = tar_type(st)
    if kind is None:
        return None
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    if kind == tarfile.DIRTYPE:
        if not info.name.endswith("/"):
            info.name += "/"
    elif kind == tarfile.REGTYPE:
        info.size = st.st_size
    elif kind == tarfile.SYMTYPE:
        info.linkname = os.readlink(host_path)
    elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    if kind != tarfile.SYMTYPE:
        try:
            capability = os.getxattr(host_path, _CAPABILITY_XATTR, follow_symlinks=False)
        except OSError:
            capability = None
        if capability:
            info.pax_headers = {_XATTR_PAX_PREFIX + _CAPABILITY_XATTR: capability.decode("utf-8", "surrogateescape")}
    return info


class TarWriter:
    """Turns files into tar bytes; remembers inodes so hard links stay links."""

    def __init__(self) -> None:
        self._names_by_inode: dict[tuple[int, int], str] = {}

    def add(self, host_path: str, name: str, st: os.stat_result | None = None) -> Iterator[bytes]:
        """Yield the member for `host_path` named `name`; nothing for a socket or a vanished file."""
        if st is None:
            try:
                st = os.lstat(host_path)
            except FileNotFoundError:
                return
        try:
            info = header(host_path, name, st)
        except FileNotFoundError:
            return  # removed under us (a running container): as if never there
        if info is None:
            return
        if info.type == tarfile.REGTYPE and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = self._names_by_inode.get(key)
            if first is not None:
                info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
                yield self.header_bytes(info)
                return
            self._names_by_inode[key] = info.name
        if info.type != tarfile.REGTYPE or info.size == 0:
            yield self.header_bytes(info)
            return
        try:
            fd = os.open(host_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        with os.fdopen(fd, "rb") as f:
            yield self.header_bytes(info)
            yield from _body(f, info.size)

    @staticmethod
    def header_bytes(info: tarfile.TarInfo) -> bytes:
        """The header blocks of a member that has no body (or whose body the caller writes)."""
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    @staticmethod
    def end() -> bytes:
        """The two zero blocks that close an archive."""
        return _END


def _body(f, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of `f` plus padding: the header promised that many.

    A file that shrank while being read (a running container writing it) is
    padded with zeros, one that grew is cut, so the stream stays a valid tar.
    """
    left = size
    while left:
        chunk = f.read(min(left, _CHUNK))
        if not chunk:
            yield b"\0" * left
            break
        left -= len(chunk)
        yield chunk
    remainder = size % _BLOCK
    if remainder:
        yield b"\0" * (_BLOCK - remainder)
