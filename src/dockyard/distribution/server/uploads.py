"""Blob uploads: resumable sessions whose state lives on disk.

An upload is a directory ``_uploads/<id>/`` holding the bytes received so
far (``data``) and when it began.  Its offset is the size of ``data``, so a
session survives a restart of the server: a client asks where it stands
(``GET``) and continues from there.

    start ──▶ append* ──▶ commit(digest) ──▶ the blob is in the store
                 │              │
                 │              └─ digest mismatch: DIGEST_INVALID, the
                 │                 upload is removed, nothing is visible
                 └─ a chunk that does not start at the offset: RANGE_INVALID
                    (416); the upload stays as it was
    cancel ──▶ gone

Bytes are hashed as they are written, so completing a large upload costs a
rename, not a second read.  The running hash lives in memory next to the
offset it covers; when it is missing (the server restarted) or stale (another
process appended), the data written so far is hashed again from disk.  A
chunk cut short (the client went away) leaves the upload at the last byte
both written and hashed, which is where the client may resume.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
import uuid
from typing import Protocol

from dockyard.content.digest import ALGORITHM, Digest

from .blobs import BlobStore
from .errcodes import BLOB_UPLOAD_UNKNOWN, DIGEST_INVALID, RANGE_INVALID, RegistryError
from .layout import Layout

# Large enough that hashing and writing run outside the GIL most of the time.
CHUNK = 1 << 20

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Body(Protocol):
    """A request body read into a caller's buffer; 0 means it has ended."""

    def readinto(self, buffer: memoryview) -> int: ...


class _Session:
    """In-memory state of one upload: a lock and the hash of data[:offset]."""

    __slots__ = ("lock", "offset", "hasher")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.offset = -1
        self.hasher = hashlib.sha256()


class Uploads:
    """Every repository's uploads under one root."""

    def __init__(self, layout: Layout, blobs: BlobStore, durable: bool = True):
        self._layout = layout
        self._blobs = blobs
        # fsync a blob before it becomes visible (DESIGN: every interruptible
        # write is atomic and durable); tests may trade that for speed.
        self._durable = durable
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._sessions_lock = threading.Lock()

    # -- sessions ------------------------------------------------------------

    def start(self, name: str) -> str:
        """Open a new upload in repository `name`; its id."""
        upload_id = str(uuid.uuid4())
        os.makedirs(self._layout.upload(name, upload_id))
        open(self._layout.upload_data(name, upload_id), "wb").close()
        with open(self._layout.upload_started_at(name, upload_id), "w") as f:
            f.write(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        return upload_id

    def size(self, name: str, upload_id: str) -> int:
        """Bytes received so far; BLOB_UPLOAD_UNKNOWN if there is no such upload."""
        try:
            return os.stat(self._data(name, upload_id)).st_size
        except FileNotFoundError:
            raise self._unknown(upload_id) from None

    def append(self, name: str, upload_id: str, body: Body, start: int | None = None) -> int:
        """Write a chunk at the end of the upload; the new size.

        `start`, from the chunk's Content-Range, must equal the current
        size: chunks arrive in order or not at all.
        """
        session = self._session(name, upload_id)
        with session.lock:
            fd = self._open(name, upload_id)
            try:
                size = os.fstat(fd).st_size
                if start is not None and start != size:
                    raise RegistryError(RANGE_INVALID, {"offset": size, "start": start},
                                        f"chunk starts at {start}, the upload is at {size}")
                self._catch_up(session, fd, size)
                self._receive(session, fd, body)
                return session.offset
            finally:
                os.close(fd)

    def commit(self, name: str, upload_id: str, digest: Digest) -> int:
        """Verify the bytes against `digest` and move them into the blob store.

        Returns the blob's size.  On a mismatch the upload is removed and
        DIGEST_INVALID raised: the blob never becomes visible.
        """
        session = self._session(name, upload_id)
        with session.lock:
            data = self._data(name, upload_id)
            fd = self._open(name, upload_id)
            try:
                size = os.fstat(fd).st_size
                self._catch_up(session, fd, size)
                actual = Digest(ALGORITHM, session.hasher.hexdigest())
                if actual == digest and self._durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if actual != digest:
                self._remove(name, upload_id)
                raise RegistryError(DIGEST_INVALID, {"digest": str(digest), "actual": str(actual)},
                                    f"the uploaded content's digest is {actual}, not {digest}")
            self._blobs.adopt(data, digest)
            self._remove(name, upload_id)
            return size

    def cancel(self, name: str, upload_id: str) -> None:
        session = self._session(name, upload_id)
        with session.lock:
            self._remove(name, upload_id)

    def purge(self, max_idle: float, now: float | None = None) -> int:
        """Remove uploads nobody has written to for `max_idle` seconds; how many."""
        now = time.time() if now is None else now
        removed = 0
        top = self._layout.repositories
        for dirpath, dirnames, _files in os.walk(top):
            if os.path.basename(dirpath) == "_uploads":
                for upload_id in dirnames:
                    try:
                        idle = now - os.stat(os.path.join(dirpath, upload_id, "data")).st_mtime
                    except FileNotFoundError:
                        idle = max_idle + 1  # a session without data is debris
                    if idle > max_idle:
                        shutil.rmtree(os.path.join(dirpath, upload_id), ignore_errors=True)
                        name = os.path.relpath(os.path.dirname(dirpath), top)
                        with self._sessions_lock:
                            self._sessions.pop((name, upload_id), None)
                        removed += 1
                dirnames[:] = []
            else:
                dirnames[:] = [d for d in dirnames if d == "_uploads" or not d.startswith("_")]
        return removed

    # -- internals -------------------------------------------------------------

    def _unknown(self, upload_id: str) -> RegistryError:
        return RegistryError(BLOB_UPLOAD_UNKNOWN, {"id": upload_id[:64]},
                             f"blob upload {upload_id[:64]} is unknown: it was never started, "
                             "was cancelled, or has completed")

    def _data(self, name: str, upload_id: str) -> str:
        if not _ID.fullmatch(upload_id):
            raise self._unknown(upload_id)
        return self._layout.upload_data(name, upload_id)

    def _open(self, name: str, upload_id: str) -> int:
        try:
            return os.open(self._data(name, upload_id), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise self._unknown(upload_id) from None

    def _session(self, name: str, upload_id: str) -> _Session:
        # Only a session that exists on disk gets state in memory, so that
        # made-up ids cannot grow the table.
        if not os.path.exists(self._data(name, upload_id)):
            raise self._unknown(upload_id)
        with self._sessions_lock:
            return self._sessions.setdefault((name, upload_id), _Session())

    def _remove(self, name: str, upload_id: str) -> None:
        shutil.rmtree(self._layout.upload(name, upload_id), ignore_errors=True)
        with self._sessions_lock:
            self._sessions.pop((name, upload_id), None)

    def _catch_up(self, session: _Session, fd: int, size: int) -> None:
        """Make `session.hasher` cover data[:size] (hash it again if needed)."""
        if session.offset == size:
            return
        session.hasher = hashlib.sha256()
        session.offset = 0
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while session.offset < size:
            n = os.preadv(fd, [view[: min(CHUNK, size - session.offset)]], session.offset)
            if n == 0:
                break
            session.hasher.update(view[:n])
            session.offset += n
        os.ftruncate(fd, session.offset)

    def _receive(self, session: _Session, fd: int, body: Body) -> None:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            while True:
                n = body.readinto(view)
                if n == 0:
                    return
                chunk = view[:n]
                written = 0
                while written < n:
                    written += os.pwrite(fd, chunk[written:], session.offset + written)
                session.hasher.update(chunk)
                session.offset += n
        except BaseException:
            # Keep exactly the bytes that were both written and hashed.
            os.ftruncate(fd, session.offset)
            raise
