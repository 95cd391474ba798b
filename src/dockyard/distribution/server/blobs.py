"""The registry's one content-addressed blob store, shared by every repository.

A blob becomes visible only by `os.rename` of a file whose bytes were hashed
on the way in and matched the digest it is renamed to: an upload's data file
(`BlobStore.adopt`) or a manifest written whole (`BlobStore.put_bytes`).  A
blob that is already present is not written again: the second copy is
dropped, which is the deduplication across repositories.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from typing import BinaryIO, Iterator

from dockyard.content.digest import ALGORITHM, Digest
from dockyard.errors import InvalidArgument

from .layout import Layout


def write_atomically(layout: Layout, path: str, data: bytes) -> None:
    """Replace `path` with `data` in one step: written to tmp/, then renamed."""
    tmp = os.path.join(layout.tmp, secrets.token_hex(8))
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # small files: durability costs well under a millisecond
    try:
        _rename_into(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _rename_into(src: str, dst: str) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        if not os.path.exists(src):
            raise
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.rename(src, dst)


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


class BlobStore:
    """Blobs by digest under `Layout.blobs`."""

    def __init__(self, layout: Layout):
        self._layout = layout
        os.makedirs(layout.blobs, exist_ok=True)
        os.makedirs(layout.tmp, exist_ok=True)

    def path(self, digest: Digest) -> str:
        return self._layout.blob(digest)

    def size(self, digest: Digest) -> int | None:
        """The blob's size, or None when the store does not hold it."""
        try:
            return os.stat(self._layout.blob(digest)).st_size
        except FileNotFoundError:
            return None

    def open(self, digest: Digest) -> BinaryIO:
        """The blob for reading; FileNotFoundError when absent."""
        return open(self._layout.blob(digest), "rb")

    def read(self, digest: Digest, limit: int) -> bytes | None:
        """A small blob (a manifest) whole; None when absent or over `limit`."""
        try:
            with self.open(digest) as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            return None
        return data if len(data) <= limit else None

    def adopt(self, path: str, digest: Digest) -> None:
        """Move a file whose bytes hash to `digest` into the store.

        The caller has verified the bytes; if the store already holds the
        blob, the file is dropped instead.
        """
        target = self._layout.blob(digest)
        if os.path.exists(target):
            _unlink(path)
            return
        _rename_into(path, target)

    def put_bytes(self, data: bytes) -> Digest:
        """Store small content held in memory (a manifest); its digest."""
        digest = Digest(ALGORITHM, hashlib.sha256(data).hexdigest())
        target = self._layout.blob(digest)
        if not os.path.exists(target):
            write_atomically(self._layout, target, data)
        return digest

    def delete(self, digest: Digest) -> int | None:
        """Remove a blob; the bytes freed, or None when it was absent."""
        size = self.size(digest)
        if size is None or not _unlink(self._layout.blob(digest)):
            return None
        return size

    def clean_tmp(self, max_age: float, now: float | None = None) -> int:
        """Remove files left in tmp/ by writes that never finished; how many."""
        now = time.time() if now is None else now
        removed = 0
        for entry in os.scandir(self._layout.tmp):
            try:
                if now - entry.stat().st_mtime > max_age and _unlink(entry.path):
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def walk(self) -> Iterator[tuple[Digest, int]]:
        """Every blob in the store with its size (stray files are skipped)."""
        for dirpath, _dirs, files in os.walk(self._layout.blobs):
            algorithm = os.path.basename(os.path.dirname(dirpath))
            for name in files:
                try:
                    digest = Digest(algorithm, name)
                    size = os.stat(os.path.join(dirpath, name)).st_size
                except (InvalidArgument, FileNotFoundError):
                    continue
                yield digest, size
