"""Extract a tar into a container: ``PUT /containers/{id}/archive?path=``.

Semantics are moby's `containerExtractToDir` + `archive.Unpack`:

- `path` is resolved inside the container with every symlink followed, the
  last one too (so a tar can be extracted "into" a symlink to a directory);
  it must exist (`NotFound`, "Could not find the file … in container …")
  and be a directory (`InvalidArgument`, "extraction point is not a
  directory").
- Member names are relative to that directory: ``/a``, ``./a`` and ``a``
  are the same member; a name that climbs out of it with ``..`` is refused.
  A hard link's target is named the same way and must stay inside too.
- An existing entry is replaced, except that a directory member merges into
  an existing directory.  With `no_overwrite_dir_non_dir`, replacing a
  directory by a non-directory (or the reverse) is refused.
- Ownership comes from the headers; with `copy_uid_gid` and a container
  `user`, everything is owned by that user instead (docker cp -a).

Why no write can leave the root: moby extracts inside a chroot.  Here each
member's parent is resolved with `secure_join`, which follows symlinks the
way the kernel would after chroot into `root` (``/escape -> /`` leads back
to `root`); the last component is never followed (it is replaced, and
created with O_NOFOLLOW / O_EXCL).  That holds while the container does not
race us: like moby since CVE-2018-15664, the caller should pause a running
container for the copy, since a process inside could swap a checked
directory for a symlink between the check and the write.

The stream is spooled (in memory up to 16 MiB, then to a temporary file)
and every name is validated before the first write, so a malformed tar or
an escaping name changes nothing.  Errors met while writing (a parent that
is a file, a refused overwrite) raise `InvalidArgument` and leave the
members already written.
"""

from __future__ import annotations

import errno
import gzip
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable

from dockyard.archive.stat import container_abs, not_found
from dockyard.errors import InvalidArgument, SystemError
from dockyard.runtime import users
from dockyard.runtime.paths_in_root import secure_join
from dockyard.snapshots.apply import decompressed

_SPOOL_IN_MEMORY = 16 << 20
# Corrupt input, as opposed to a failing filesystem.
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError)
_XATTR_PAX_PREFIX = "SCHILY.xattr."


def extract_into(
    root: str,
    path: str,
    tar_stream: BinaryIO,
    no_overwrite_dir_non_dir: bool = False,
    copy_uid_gid: bool = False,
    *,
    user: str = "",
    container: str = "",
) -> None:
    """Extract the (optionally compressed) tar read from `tar_stream` into directory `path` of `root`."""
    root = os.path.abspath(root)
    abs_path = container_abs(path)
    try:
        dest_host = secure_join(root, abs_path)
        dest_st = os.lstat(dest_host)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise not_found(path, container) from None
        raise _error(exc) from None
    if not stat.S_ISDIR(dest_st.st_mode):
        raise InvalidArgument("extraction point is not a directory")
    dest = "/" + os.path.relpath(dest_host, root) if dest_host != root else "/"
    dest = posixpath.normpath(dest)

    owner = _container_owner(root, user) if copy_uid_gid and user else None
    with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY) as spool:
        plain, _ = decompressed(tar_stream)
        try:
            shutil.copyfileobj(plain, spool, 1 << 20)
            spool.seek(0)
            with tarfile.open(fileobj=spool, mode="r:", errorlevel=2) as tar:  # type: ignore[call-overload]
                members = tar.getmembers()
                plan = [_plan(m) for m in members]
                extractor = _Extractor(root, dest, no_overwrite_dir_non_dir, owner)
                for member, rel in zip(members, plan):
                    if rel is not None:
                        extractor.add(tar, member, rel)
                extractor.finish()
        except _ARCHIVE_ERRORS as exc:
            raise InvalidArgument(f"invalid tar archive: {exc}") from None


def extract_stream(dest_dir: str, tar_stream: BinaryIO, check: Callable[[tarfile.TarInfo], None] | None = None) -> None:
    """Extract the plain tar read from `tar_stream` into `dest_dir` member by member, as it is read.

    For a scratch directory the caller owns and removes (`docker load`'s
    spool): nothing is spooled first, so an archive of any size costs one
    copy, and a member refused halfway leaves the earlier ones written.
    Every write has `extract_into`'s safety: names are rooted at `dest_dir`,
    a name or hard link that climbs out is refused, parents resolve inside
    it, the last component is never followed.  `check` sees each member
    before it is written and refuses it by raising.
    """
    root = os.path.abspath(dest_dir)
    extractor = _Extractor(root, "/", False, None)
    try:
        with tarfile.open(fileobj=tar_stream, mode="r|", errorlevel=2) as tar:  # type: ignore[call-overload]
            for member in tar:
                rel = _plan(member)
                if rel is None:
                    continue
                if check is not None:
                    check(member)
                extractor.add(tar, member, rel)
    except _ARCHIVE_ERRORS as exc:
        raise InvalidArgument(f"invalid tar archive: {exc}") from None
    extractor.finish()


def _plan(member: tarfile.TarInfo) -> str | None:
    """The member's clean path relative to the destination; None to skip it."""
    if member.type in (tarfile.XGLTYPE, tarfile.XHDTYPE):
        return None
    rel = _clean(member.name)
    if member.islnk():
        if _clean(member.linkname) == ".":
            raise InvalidArgument(f"invalid hard link {member.name!r} to the extraction directory")
    return rel


def _clean(name: str) -> str:
    """A member name relative to the destination ('.' for itself); one that climbs out is refused.

    Like moby's Join(dest, Clean(name)): an absolute name is rooted at the
    destination, so its '..' stop there; a relative one that climbs out is
    an error rather than silently clamped.
    """
    norm = posixpath.normpath(name or ".")
    if norm == ".." or norm.startswith("../"):
        raise InvalidArgument(f"{name!r} is outside of the extraction directory")
    return norm.lstrip("/") or "."


@dataclass(frozen=True, slots=True)
class _Owner:
    uid: int
    gid: int


def _container_owner(root: str, user: str) -> _Owner:
    """The uid and gid of the container's configured user, from its own /etc/passwd and /etc/group."""
    def read(path: str) -> bytes | None:
        try:
            fd = os.open(secure_join(root, path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            return f.read(4 << 20)

    resolved = users.resolve(user, read("/etc/passwd"), read("/etc/group"))
    return _Owner(resolved.uid, resolved.gid)


class _Extractor:
    def __init__(self, root: str, dest: str, no_overwrite_dir_non_dir: bool, owner: _Owner | None):
        self.root = root
        self.dest = dest  # inside the container, absolute, symlink-free
        self.no_overwrite = no_overwrite_dir_non_dir
        self.owner = owner
        self._dir_times: list[tuple[str, int]] = []

    def _host(self, rel: str, create_parents: bool = True) -> tuple[str, str]:
        """(host path, container path) of member `rel`: parent resolved inside the root, last part not."""
        container_path = posixpath.join(self.dest, rel)
        parent, base = posixpath.split(container_path)
        try:
            host_parent = secure_join(self.root, parent)
            if create_parents:
                # Parents the tar does not list are created, as moby does (0755, root).
                os.makedirs(host_parent, 0o755, exist_ok=True)
        except OSError as exc:
            raise _error(exc, container_path) from None
        host = os.path.join(host_parent, base)
        assert _inside(host, self.root), host
        return host, container_path

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo, rel: str) -> None:
        if rel == ".":
            return  # moby skips the entry for the extraction directory itself
        host, container_path = self._host(rel)
        try:
            self._add(tar, member, host, container_path)
        except OSError as exc:
            raise _error(exc, container_path) from None

    def _add(self, tar: tarfile.TarFile, member: tarfile.TarInfo, host: str, container_path: str) -> None:
        existing = _lstat(host)
        if existing is not None:
            is_dir = stat.S_ISDIR(existing.st_mode)
            if self.no_overwrite and is_dir and not member.isdir():
                raise InvalidArgument(f"cannot overwrite directory {container_path!r} with non-directory {member.name!r}")
            if self.no_overwrite and not is_dir and member.isdir():
                raise InvalidArgument(f"cannot overwrite non-directory {container_path!r} with directory {member.name!r}")
            if not (is_dir and member.isdir()):
                _remove(host)

        if member.isdir():
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                os.mkdir(host, 0o700)
            self._dir_times.append((host, int(member.mtime)))
        elif member.isreg():
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                source = tar.extractfile(member)
                assert source is not None
                shutil.copyfileobj(source, out, 1 << 20)
        elif member.issym():
            # Stored as given: whatever it points at is resolved inside the
            # root whenever dockyard later writes through it.
            os.symlink(member.linkname, host)
        elif member.islnk():
            source_host, _ = self._host(_clean(member.linkname), create_parents=False)
            if _lstat(source_host) is None:
                raise InvalidArgument(f"hard link {member.name!r} to missing {member.linkname!r}")
            os.link(source_host, host, follow_symlinks=False)
            return  # the inode's metadata came with its first name
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(host, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(host, 0o600)
        else:
            raise InvalidArgument(f"unsupported tar entry type for {member.name!r}")
        self._set_metadata(host, member)

    def _set_metadata(self, host: str, member: tarfile.TarInfo) -> None:
        uid, gid = (self.owner.uid, self.owner.gid) if self.owner else (member.uid, member.gid)
        os.lchown(host, uid, gid)
        for key, value in member.pax_headers.items():
            if not key.startswith(_XATTR_PAX_PREFIX):
                continue
            name = key[len(_XATTR_PAX_PREFIX):]
            if name.startswith("trusted."):
                continue  # overlay's own bookkeeping lives there
            try:
                os.setxattr(host, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
            except OSError:
                pass  # unsupported here; moby ignores it too
        if not member.issym():
            os.chmod(host, member.mode & 0o7777)  # after chown, which clears set-id bits
        if not member.isdir():
            os.utime(host, (member.mtime, member.mtime), follow_symlinks=False)

    def finish(self) -> None:
        # Directory times last: creating their children changed them.
        for host, mtime in reversed(self._dir_times):
            if _lstat(host) is not None:
                os.utime(host, (mtime, mtime), follow_symlinks=False)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _remove(path: str) -> None:
    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _error(exc: OSError, where: str = "") -> Exception:
    """Filesystem failures: the tar asked for something impossible, or the kernel failed."""
    subject = f"{where}: " if where else ""
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ELOOP, errno.EPERM, errno.ENOENT, errno.EMLINK):
        return InvalidArgument(f"{subject}{exc.strerror or exc}")
    return SystemError(f"{subject}{exc.strerror or exc}")
