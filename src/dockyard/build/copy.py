"""COPY and ADD applied to a stage's root filesystem, the way docker does it.

The executor holds two host directories: where the sources come from (the
extracted build context, or the mounted root of the ``--from`` stage or
image) and the destination stage's root, mounted read-write.  A COPY is
then four steps, each a function of this package::

    sources = resolve_sources(context_dir, local, kind=kind)      # origin=Origin.STAGE for --from
    sources += [inline_source(doc, expanded) for doc in instr.heredocs]
    sources += [fetch_url(url, tmp_dir, instr.checksum or None)]  # ADD https://… only
    digest, description = sources_digest(sources)  # hex for the cache, "file:<hex>" for history
    copy_into(sources, rootfs, instr.dest, workdir=..., kind=kind,  # "COPY" or "ADD"
              owner=parse_chown(instr.chown, rootfs) if instr.chown else None,
              chmod=parse_chmod(instr.chmod) if instr.chmod else None,
              unpack=<ADD and --unpack not false>)

Resolution is described in ``copy_sources``, the cache key in
``copy_digest``, the flags in ``copy_flags``; this module writes.

Where things land (docker's destination rules):

- A relative ``dest`` is relative to the WORKDIR.  ``dest`` names a
  directory when it ends in ``/`` or is ``.``/``..`` (or ends in ``/.``);
  several sources require that (``When using COPY with more than one
  source file, the destination must be a directory and end with a /``).
- ``dest`` is resolved inside the root with every symlink followed the way
  the kernel would after chroot, so ``/app -> /srv`` sends the copy to
  ``/srv`` and ``/app -> /`` or ``-> ../../..`` to the root, never out.
- A directory source copies its *contents* into ``dest``, created if
  missing; an existing directory is merged into, an existing non-directory
  is an error (``cannot copy to non-directory: /app``), and so is a
  symlink in the way inside it (it is never written through).
- A file (or heredoc, or download) goes *into* ``dest`` under its own name
  when ``dest`` names a directory or is an existing one, else it is written
  *at* ``dest``, replacing a file there (an existing directory at the final
  name is an error: ``cannot replace to directory /app/x with file``).
- Missing parent directories are created 0755, owned by the ``--chown``
  owner (else 0:0); existing ones are left as they are.
- With ``unpack`` (ADD), a local source that *is* a tar archive by content
  (plain, gzip, bzip2, xz) is extracted into ``dest`` as a directory with
  ``archive.copy_in`` — the same refusal of names climbing out of it and
  of writes through links; members keep their owners unless ``--chown``.
  Downloads are copied as files unless ``unpack_urls`` (``ADD --unpack=true``).

What each copy carries: the source's mode and modification time, its
extended attributes (not ``trusted.*``: overlayfs's own), symlinks as
symlinks, fifos and devices re-created, hard links within one COPY kept as
links; sockets are left out, as a tar copy leaves them.  Owners are 0:0,
or the ``--chown`` owner, or, for a ``--from`` source without ``--chown``,
the source's own.  ``chmod`` replaces the permissions of copied files and
directories (not of created parents, which stay 0755).  A heredoc is 0644
with the time of the copy.  The directory a directory source's contents
go into keeps its metadata when it existed and is 0755 (or ``chmod``) when
created.
"""

from __future__ import annotations

import errno
import lzma
import os
import posixpath
import stat
import tarfile
import zlib
from typing import Iterable

from dockyard.archive.copy_in import extract_into
from dockyard.build.copy_digest import SourcesDigest, sources_digest
from dockyard.build.copy_flags import Chmod, parse_chmod, parse_chown
from dockyard.build.copy_sources import (INLINE_MODE, UNNAMED, Exclude, Origin, Source, fetch_url,
                                         has_wildcards, inline_source, is_url, resolve_sources,
                                         walk_source)
from dockyard.errors import InvalidArgument, SystemError
from dockyard.runtime.paths_in_root import secure_join
from dockyard.snapshots.apply import decompressed

__all__ = [
    "Chmod", "Exclude", "Origin", "Source", "SourcesDigest", "UNNAMED", "copy_into", "fetch_url",
    "has_wildcards", "inline_source", "is_archive", "is_url", "names_directory", "parse_chmod",
    "parse_chown", "resolve_sources", "sources_digest",
]

_CHUNK = 8 << 20
_PARENT_MODE = 0o755
# errors that mean "the tree does not allow this", as opposed to a failing disk
_USER_ERRNOS = (errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ELOOP, errno.ENOENT, errno.EMLINK)


def copy_into(sources: Iterable[Source], dest_root: str, dest: str, *, workdir: str = "/",
              owner: tuple[int, int] | None = None, chmod: Chmod | None = None,
              unpack: bool = False, unpack_urls: bool = False, exclude: Exclude | None = None,
              kind: str = "COPY") -> None:
    """Copy ``sources`` to ``dest`` inside the root filesystem at ``dest_root``.

    ``dest`` is as written (after variable expansion), ``workdir`` the
    stage's WORKDIR, ``owner`` the parsed ``--chown``, ``chmod`` the parsed
    ``--chmod``; ``unpack`` extracts local tar archives (ADD), ``unpack_urls``
    downloaded ones too; ``exclude`` leaves entries out of directory sources
    (``--exclude``); ``kind`` (COPY/ADD) is for messages.  Errors are
    ``InvalidArgument`` (the trees do not allow it) or ``SystemError``.
    """
    sources = list(sources)
    if not sources:
        raise InvalidArgument("no source files were specified")
    wants_dir = names_directory(dest)
    if len(sources) > 1 and not wants_dir:
        raise InvalidArgument(f"When using {kind} with more than one source file, "
                              "the destination must be a directory and end with a /")
    container_dest = _absolute(workdir, dest)
    writer = _Writer(dest_root, owner, chmod, exclude)
    try:
        for source in sources:
            extract = unpack_urls if source.origin is Origin.URL else unpack
            writer.copy(source, container_dest, wants_dir, extract and source.data is None)
        writer.finish()
    except OSError as exc:
        where = writer.inside(exc.filename) if isinstance(exc.filename, str) else ""
        message = f"failed to copy files: {where + ': ' if where else ''}{exc.strerror or exc}"
        raise (InvalidArgument if exc.errno in _USER_ERRNOS else SystemError)(message) from None


def names_directory(dest: str) -> bool:
    """Whether ``dest`` as written can only mean a directory."""
    return dest.endswith("/") or posixpath.basename(dest) in (".", "..")


def _absolute(workdir: str, dest: str) -> str:
    path = dest if dest.startswith("/") else posixpath.join("/", workdir, dest)
    return "/" + posixpath.normpath(path).lstrip("/")


def is_archive(path: str) -> bool:
    """Whether the file at ``path`` is a tar (plain, gzip, bzip2, xz), judged by content.

    Like BuildKit: a regular file whose (decompressed) start reads as a tar
    header.  An empty file named ``x.tar.gz`` is not an archive.
    """
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, "rb") as f:
            plain, _ = decompressed(f)
            with tarfile.open(fileobj=plain, mode="r|") as tar:  # type: ignore[call-overload]
                return tar.next() is not None
    except (InvalidArgument, tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError):
        return False  # zstd, corrupt or not a tar: copied as a plain file


class _Writer:
    """One COPY's writes into one root; directory metadata is set last,
    when nothing more will be created in them."""

    def __init__(self, root: str, owner: tuple[int, int] | None, chmod: Chmod | None,
                 exclude: Exclude | None):
        self.root = os.path.abspath(root)
        self.owner = owner
        self.chmod = chmod
        self.exclude = exclude
        self._links: dict[tuple[int, int], str] = {}
        self._dirs: list[tuple[str, str, os.stat_result, Origin]] = []

    def copy(self, source: Source, dest: str, wants_dir: bool, extract: bool) -> None:
        host = self._resolve(dest)
        existing = _lstat(host)
        if source.is_dir:
            self._copy_dir(source, host, existing)
        elif extract and is_archive(source.path):
            self._make_dirs(host)
            user = f"{self.owner[0]}:{self.owner[1]}" if self.owner else ""
            with open(source.path, "rb") as archive:
                extract_into(self.root, self.inside(host), archive, copy_uid_gid=bool(user), user=user)
        elif wants_dir or (existing is not None and stat.S_ISDIR(existing.st_mode)):
            self._make_dirs(host)
            self._copy_file(source, os.path.join(host, source.base))
        else:
            self._make_dirs(os.path.dirname(host))
            self._copy_file(source, host)

    def finish(self) -> None:
        for target, src, st, origin in reversed(self._dirs):
            self._set_metadata(target, src, st, origin)

    def _resolve(self, dest: str) -> str:
        """``dest`` on the host, symlinks followed inside the root."""
        try:
            return secure_join(self.root, dest)
        except NotADirectoryError:
            # a file where a directory should be: name it as mkdir -p would
            parts = dest.strip("/").split("/")
            for depth in range(1, len(parts)):
                host = secure_join(self.root, "/".join(parts[:depth]))
                if not stat.S_ISDIR(os.lstat(host).st_mode):
                    raise InvalidArgument(f"mkdir {self.inside(host)}: not a directory") from None
            raise

    # -- directories -----------------------------------------------------------

    def _copy_dir(self, source: Source, host: str, existing: os.stat_result | None) -> None:
        if existing is None:
            self._make_dirs(os.path.dirname(host))
            os.mkdir(host, 0o700)
            os.lchown(host, *self._new_owner())
            os.chmod(host, self.chmod.apply(stat.S_IFDIR | _PARENT_MODE) if self.chmod else _PARENT_MODE)
        elif not stat.S_ISDIR(existing.st_mode):
            raise InvalidArgument(f"cannot copy to non-directory: {self.inside(host)}")
        # Pre-order: every parent of `target` was checked or made a real directory just before.
        for rel, src, st in walk_source(source.path, self.exclude):
            target = os.path.join(host, rel)
            current = _lstat(target)
            if stat.S_ISDIR(st.st_mode):
                if current is None:
                    os.mkdir(target, 0o700)
                elif not stat.S_ISDIR(current.st_mode):
                    raise InvalidArgument(f"cannot copy to non-directory: {self.inside(target)}")
                self._dirs.append((target, src, st, source.origin))
            elif not stat.S_ISSOCK(st.st_mode):
                self._replace(target, current)
                self._write_entry(src, st, target, source.origin)

    def _make_dirs(self, host: str) -> None:
        """Create what is missing of ``host`` (a symlink-free path from secure_join)."""
        rel = os.path.relpath(host, self.root)
        current = self.root
        for part in [] if rel == "." else rel.split("/"):
            current = os.path.join(current, part)
            st = _lstat(current)
            if st is None:
                os.mkdir(current, 0o700)
                os.lchown(current, *self._new_owner())
                os.chmod(current, _PARENT_MODE)
            elif not stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"mkdir {self.inside(current)}: not a directory")

    # -- files -------------------------------------------------------------------

    def _copy_file(self, source: Source, target: str) -> None:
        self._replace(target, _lstat(target))
        if source.data is None:
            self._write_entry(source.path, os.lstat(source.path), target, source.origin)
            return
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(source.data)
        os.lchown(target, *self._new_owner())
        os.chmod(target, self.chmod.apply(stat.S_IFREG | INLINE_MODE) if self.chmod else INLINE_MODE)

    def _replace(self, target: str, current: os.stat_result | None) -> None:
        """Make room for a non-directory at ``target``; a directory there is an error."""
        if current is None:
            return
        if stat.S_ISDIR(current.st_mode):
            raise InvalidArgument(f"cannot replace to directory {self.inside(target)} with file")
        os.unlink(target)

    def _write_entry(self, src: str, st: os.stat_result, target: str, origin: Origin) -> None:
        mode = st.st_mode
        if stat.S_ISREG(mode):
            inode = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and inode in self._links and _lstat(self._links[inode]) is not None:
                os.link(self._links[inode], target, follow_symlinks=False)
                return  # the inode's metadata came with its first name
            _copy_bytes(src, target)
            if st.st_nlink > 1:
                self._links[inode] = target
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), target)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(target, 0o600)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(target, stat.S_IFMT(mode) | 0o600, st.st_rdev)
        else:
            return  # a socket: nothing a layer can carry
        self._set_metadata(target, src, st, origin)

    # -- metadata ----------------------------------------------------------------

    def _set_metadata(self, target: str, src: str, st: os.stat_result, origin: Origin) -> None:
        # chown first: it clears set-id bits and file capabilities
        os.lchown(target, *self._owner_of(st, origin))
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(target, self.chmod.apply(st.st_mode) if self.chmod else stat.S_IMODE(st.st_mode))
        _copy_xattrs(src, target)
        os.utime(target, ns=(st.st_mtime_ns, st.st_mtime_ns), follow_symlinks=False)

    def _owner_of(self, st: os.stat_result, origin: Origin) -> tuple[int, int]:
        if self.owner is not None:
            return self.owner
        if origin is Origin.STAGE:
            return st.st_uid, st.st_gid
        return 0, 0

    def _new_owner(self) -> tuple[int, int]:
        return self.owner if self.owner is not None else (0, 0)

    def inside(self, host: str) -> str:
        """``host`` as the image sees it, for messages; "" when it is not in the root."""
        rel = os.path.relpath(host, self.root)
        if rel == ".." or rel.startswith("../"):
            return ""
        return "/" if rel == "." else "/" + rel


def _copy_bytes(src: str, target: str) -> None:
    """Copy a file's bytes into a new file; the kernel moves them (sendfile)."""
    fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd_in, "rb") as f_in:
        fd_out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd_out, "wb") as f_out:
            offset = 0
            while sent := os.sendfile(f_out.fileno(), f_in.fileno(), offset, _CHUNK):
                offset += sent


def _copy_xattrs(src: str, target: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return  # the filesystem has none
    for name in names:
        if name.startswith("trusted."):
            continue  # overlayfs keeps whiteouts and redirects there
        try:
            os.setxattr(target, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError:
            pass  # best effort, as docker's copy is


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
