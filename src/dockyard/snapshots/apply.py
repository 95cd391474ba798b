"""Apply an OCI/Docker layer tar to a directory, safely.

A layer is a tar (plain, gzip, bzip2 or xz, recognised by magic bytes)
whose entries are added or replaced, plus *whiteouts* that record removals:

    dir/.wh.name        `dir/name` was deleted
    dir/.wh..wh..opq    everything below `dir` in lower layers is hidden

How a whiteout is written depends on the snapshotter (`WhiteoutMode`):
OVERLAY keeps the layer as a diff, so the removal is recorded the way the
kernel's overlayfs reads it (a 0:0 character device; the directory xattr
`trusted.overlay.opaque=y`); DELETE applies the layer on top of a full copy
of its parent, so the removal simply happens.

The tar is hostile until proven otherwise.  A member whose normalised path
is absolute or climbs with `..` is refused, and no write ever goes through a
symlink that would lead outside the target: every parent is checked with
lstat on the way down (a symlinked parent is followed only when its
resolution stays inside), and the final component is replaced, never written
through.  Hard links must name a file inside the layer root.

While applying, the uncompressed stream is hashed: its sha256 is the layer's
diff id, from which chain ids (the names of committed snapshots) derive.
"""

from __future__ import annotations

import bz2
import enum
import gzip
import hashlib
import io
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_PAX_PREFIX = "SCHILY.xattr."


# Corrupt input, as opposed to a failing filesystem (which propagates as is).
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError)


class WhiteoutMode(enum.Enum):
    OVERLAY = "overlay"
    DELETE = "delete"


class Compression(enum.Enum):
    NONE = "none"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZSTD = "zstd"


_MAGIC = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
)


def detect_compression(head: bytes) -> Compression:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return Compression.NONE


def decompressed(stream: BinaryIO) -> tuple[BinaryIO, Compression]:
    """Wrap `stream` so that reading yields the uncompressed tar bytes."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(RawAdapter(stream), 1 << 16)
    kind = detect_compression(buffered.peek(6)[:6])
    if kind is Compression.GZIP:
        return gzip.GzipFile(fileobj=buffered, mode="rb"), kind  # type: ignore[return-value]
    if kind is Compression.BZIP2:
        return bz2.BZ2File(buffered, "rb"), kind  # type: ignore[return-value]
    if kind is Compression.XZ:
        return lzma.LZMAFile(buffered, "rb"), kind  # type: ignore[return-value]
    if kind is Compression.ZSTD:
        raise InvalidArgument("zstd-compressed layers are not supported")
    return buffered, kind


class RawAdapter(io.RawIOBase):
    """Lets io.BufferedReader wrap any object with .read()."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


class HashingReader(io.RawIOBase):
    """Passes reads through and hashes every byte; counts them too."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.hasher = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        data = self._stream.read(n)
        self.hasher.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    @property
    def digest(self) -> Digest:
        return Digest.from_hasher(self.hasher)


@dataclass(frozen=True, slots=True)
class AppliedLayer:
    diff_id: Digest
    size: int  # bytes of regular-file content the layer carries (docker's layer size)
    compression: Compression


def apply_layer(stream: BinaryIO, target: str, mode: WhiteoutMode) -> AppliedLayer:
    """Apply the layer tar read from `stream` onto the directory `target`."""
    plain, compression = decompressed(stream)
    hashing = HashingReader(plain)
    applier = _Applier(os.path.realpath(target), mode)
    try:
        with tarfile.open(fileobj=hashing, mode="r|", errorlevel=2) as tar:  # type: ignore[call-overload]
            for member in tar:
                applier.add(tar, member)
        hashing.drain()  # the diff id covers the whole stream, padding included
    except _ARCHIVE_ERRORS as exc:
        raise InvalidArgument(f"invalid layer archive: {exc}") from None
    applier.finish()
    return AppliedLayer(hashing.digest, applier.size, compression)


class _Applier:
    def __init__(self, root: str, mode: WhiteoutMode):
        self.root = root
        self.mode = mode
        self.size = 0
        self._dir_times: list[tuple[str, float]] = []
        self._unpacked: set[str] = set()

    # -- path safety -------------------------------------------------------

    def _clean(self, name: str) -> str:
        norm = posixpath.normpath(name)
        if norm.startswith("/") or norm == ".." or norm.startswith("../") or "/../" in f"/{norm}/":
            raise InvalidArgument(f"invalid layer archive: path {name!r} escapes the layer root")
        return "" if norm == "." else norm

    def _safe_parent(self, rel: str) -> str:
        """The host path of `rel`'s parent directory, checked component by component."""
        current = self.root
        parts = [p for p in posixpath.dirname(rel).split("/") if p]
        for part in parts:
            candidate = os.path.join(current, part)
            try:
                st = os.lstat(candidate)
            except FileNotFoundError:
                os.mkdir(candidate, 0o755)
                current = candidate
                continue
            if stat.S_ISLNK(st.st_mode):
                resolved = os.path.realpath(candidate)
                if not _inside(resolved, self.root):
                    raise InvalidArgument(
                        f"invalid layer archive: {rel!r} would be written through a symlink leading outside the layer"
                    )
                if not os.path.isdir(resolved):
                    raise InvalidArgument(f"invalid layer archive: parent of {rel!r} is not a directory")
                current = resolved
            elif stat.S_ISDIR(st.st_mode):
                current = candidate
            else:
                raise InvalidArgument(f"invalid layer archive: parent of {rel!r} is not a directory")
        return current

    # -- members -------------------------------------------------------------

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = self._clean(member.name)
        if rel == "":
            if member.isdir():
                self._set_metadata(self.root, member)
            return
        base = posixpath.basename(rel)
        parent = self._safe_parent(rel)

        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent, rel, base)
            return

        path = os.path.join(parent, base)
        self._mark_unpacked(path)
        existing = _lstat(path)
        if member.isdir():
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                if existing is not None:
                    _remove(path)
                os.mkdir(path, 0o700)
            self._set_metadata(path, member)
            self._dir_times.append((path, member.mtime))
            return
        if existing is not None:
            _remove(path)

        if member.isreg():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                source = tar.extractfile(member)
                assert source is not None
                shutil.copyfileobj(source, out, 1 << 20)
            self.size += member.size
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            link_rel = self._clean(member.linkname)
            if link_rel == "":
                raise InvalidArgument(f"invalid layer archive: hard link {rel!r} to the layer root")
            source = os.path.join(self._safe_parent(link_rel), posixpath.basename(link_rel))
            if _lstat(source) is None:
                raise InvalidArgument(f"invalid layer archive: hard link {rel!r} to missing {member.linkname!r}")
            os.link(source, path, follow_symlinks=False)
            return  # the inode's metadata came with its first name
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise InvalidArgument(f"invalid layer archive: unsupported entry type for {rel!r}")
        self._set_metadata(path, member)

    def _whiteout(self, parent: str, rel: str, base: str) -> None:
        if base == WHITEOUT_OPAQUE:
            if self.mode is WhiteoutMode.OVERLAY:
                os.setxattr(parent, OVERLAY_OPAQUE_XATTR, b"y", follow_symlinks=False)
            else:
                # Hide what lower layers put here, not what this layer already did.
                for entry in os.listdir(parent):
                    child = os.path.join(parent, entry)
                    if child not in self._unpacked:
                        _remove(child)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing to apply
        victim = base[len(WHITEOUT_PREFIX):]
        if not victim or victim in (".", ".."):
            raise InvalidArgument(f"invalid layer archive: bad whiteout {rel!r}")
        path = os.path.join(parent, victim)
        if _lstat(path) is not None:
            _remove(path)
        if self.mode is WhiteoutMode.OVERLAY:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            self._mark_unpacked(path)

    def _mark_unpacked(self, path: str) -> None:
        """Remember `path` and its ancestors as written by this layer."""
        while path not in self._unpacked and _inside(path, self.root) and path != self.root:
            self._unpacked.add(path)
            path = os.path.dirname(path)

    def _set_metadata(self, path: str, member: tarfile.TarInfo) -> None:
        os.lchown(path, member.uid, member.gid)
        for key, value in member.pax_headers.items():
            if not key.startswith(_XATTR_PAX_PREFIX):
                continue
            name = key[len(_XATTR_PAX_PREFIX):]
            if name.startswith("trusted."):
                continue  # would let a layer forge overlay whiteouts or redirects
            try:
                os.setxattr(path, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
            except OSError:
                pass  # the filesystem may not support it (docker ignores ENOTSUP too)
        if not member.issym():
            # chmod after chown: chown clears setuid/setgid bits.
            os.chmod(path, member.mode & 0o7777)
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def finish(self) -> None:
        # Directory mtimes last: creating children updated them.
        for path, mtime in reversed(self._dir_times):
            if _lstat(path) is not None:
                os.utime(path, (mtime, mtime), follow_symlinks=False)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _remove(path: str) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def chain_id(parent: Digest | str | None, diff_id: Digest | str) -> Digest:
    """OCI chain id: chain(L0) = diff(L0); chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln))."""
    if parent is None:
        return diff_id if isinstance(diff_id, Digest) else Digest.parse(diff_id)
    return Digest.from_bytes(f"{parent} {diff_id}".encode())


def chain_ids(diff_ids: list[Digest] | list[str]) -> list[Digest]:
    out: list[Digest] = []
    parent: Digest | None = None
    for diff in diff_ids:
        parent = chain_id(parent, diff)
        out.append(parent)
    return out
