"""Blobs by digest on the local filesystem.

A blob becomes visible only whole and verified: an ingest writes into
`ingest/<random>`, hashes every byte on the way, fsyncs, compares with the
expected digest when one was given, and only then renames the file to
`blobs/sha256/<hex>` (rename is atomic on one filesystem).  A crash leaves at
most a stray file under `ingest/`, which `ContentStore.clean_ingests` removes.

The roles are separate Protocols, as containerd splits them, so a function
asks for the narrowest one it needs: a `Provider` reads, an `Ingester`
writes, a `Manager` inspects and deletes.  `ContentStore` is all three.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from typing import BinaryIO, Iterable, Iterator, Protocol

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest, as_digest
from dockyard.errors import InvalidArgument, NotFound
from dockyard.paths import ContentPaths

CHUNK = 1 << 20
OCTET_STREAM = "application/octet-stream"


class Provider(Protocol):
    def open(self, digest: Digest | str) -> BinaryIO: ...
    def read_bytes(self, digest: Digest | str) -> bytes: ...


class Ingester(Protocol):
    def ingest(
        self, chunks: Iterable[bytes], expected: Digest | str | None = None, media_type: str = OCTET_STREAM
    ) -> Descriptor: ...


class Manager(Protocol):
    def exists(self, digest: Digest | str) -> bool: ...
    def size(self, digest: Digest | str) -> int: ...
    def delete(self, digest: Digest | str) -> None: ...
    def walk(self) -> Iterator[Descriptor]: ...


def iter_chunks(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    """A readable binary stream as an iterable of chunks, for `ingest`."""
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk


class ContentStore:
    """The content store under one root (DataRoot.content)."""

    def __init__(self, root: str):
        self._paths = ContentPaths(root)
        os.makedirs(self._paths.blobs, mode=0o700, exist_ok=True)
        os.makedirs(self._paths.ingest, mode=0o700, exist_ok=True)

    # -- provider ---------------------------------------------------------

    def path(self, digest: Digest | str) -> str:
        """Where the blob lives (whether or not it exists)."""
        return self._paths.blob(as_digest(digest).hex)

    def open(self, digest: Digest | str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def read_bytes(self, digest: Digest | str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    # -- ingester ---------------------------------------------------------

    def ingest(
        self, chunks: Iterable[bytes], expected: Digest | str | None = None, media_type: str = OCTET_STREAM
    ) -> Descriptor:
        """Write a blob; returns its descriptor once it is visible.

        With `expected`, a mismatch raises InvalidArgument and leaves nothing
        behind.  Ingesting a blob that already exists is cheap and harmless:
        the new copy is verified, then dropped.
        """
        expected_digest = as_digest(expected) if expected is not None else None
        temp = os.path.join(self._paths.ingest, secrets.token_hex(16))
        hasher = hashlib.sha256()
        size = 0
        try:
            with open(temp, "xb") as f:
                for chunk in chunks:
                    hasher.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            digest = Digest.from_hasher(hasher)
            if expected_digest is not None and digest != expected_digest:
                raise InvalidArgument(f"unexpected digest: got {digest}, expected {expected_digest}")
            final = self.path(digest)
            if os.path.exists(final):
                os.unlink(temp)
            else:
                os.chmod(temp, 0o444)
                os.rename(temp, final)
                _fsync_dir(self._paths.blobs)
        except BaseException:
            _remove_quietly(temp)
            raise
        return Descriptor(media_type, digest, size)

    def ingest_bytes(self, data: bytes, expected: Digest | str | None = None, media_type: str = OCTET_STREAM) -> Descriptor:
        return self.ingest([data], expected, media_type)

    def ingest_stream(
        self, stream: BinaryIO, expected: Digest | str | None = None, media_type: str = OCTET_STREAM
    ) -> Descriptor:
        return self.ingest(iter_chunks(stream), expected, media_type)

    def clean_ingests(self) -> None:
        """Remove partial writes left by an interrupted daemon (call at start)."""
        for name in os.listdir(self._paths.ingest):
            _remove_quietly(os.path.join(self._paths.ingest, name))

    # -- manager ----------------------------------------------------------

    def exists(self, digest: Digest | str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: Digest | str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def info(self, digest: Digest | str, media_type: str = OCTET_STREAM) -> Descriptor:
        return Descriptor(media_type, as_digest(digest), self.size(digest))

    def delete(self, digest: Digest | str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def walk(self) -> Iterator[Descriptor]:
        """Every visible blob (media type unknown at this level)."""
        for name in sorted(os.listdir(self._paths.blobs)):
            try:
                digest = Digest("sha256", name)
                yield Descriptor(OCTET_STREAM, digest, os.stat(self._paths.blob(name)).st_size)
            except (InvalidArgument, FileNotFoundError):
                continue


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


__all__ = ["ContentStore", "Provider", "Ingester", "Manager", "iter_chunks"]
