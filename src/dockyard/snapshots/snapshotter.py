"""The Snapshotter role: unpacked layers and the writable layers above them.

Vocabulary
----------
snapshot
    A directory tree that is either *committed* (immutable, shared) or
    *active* (writable, or read-only for a view, owned by one user).
name
    What a committed snapshot is called.  For image layers it is the layer's
    *chain id* (`sha256:…`, OCI image spec): chain(L0) = diff_id(L0),
    chain(Ln) = sha256(chain(Ln-1) + " " + diff_id(Ln)).  A chain id names a
    layer *together with everything below it*, so two images that share their
    first three layers share three committed snapshots.
key
    What an active snapshot is called: any short path-safe string the caller
    picks, in practice the container id.  Keys and names live in separate
    namespaces.
parent
    The committed snapshot a snapshot sits on, or None for one that starts
    empty.  Parents form chains; a committed snapshot with children cannot be
    removed.

A snapshotter never mounts anything.  `prepare`, `view` and `mounts` return
`mount.Mount` descriptions; the caller applies them (`mount.mount_all`) where
it needs them, typically inside a container's mount namespace.

Importing a layer
-----------------
To turn layer tar Ln into a committed snapshot, the caller asks
`apply_layer(parent=chain(Ln-1), stream)`.  The snapshotter unpacks the tar
into `tmp/<random>` (the overlay snapshotter into an empty directory, writing
whiteouts as overlayfs devices; the native snapshotter into a copy of the
parent, performing the deletions), hashing the uncompressed stream as it goes.
The hash is the diff id, from which the chain id follows; only then is the
temporary directory renamed to `committed/<chain hex>`.  Rename is atomic, so
a snapshot is either absent or complete: a crash mid-unpack leaves only
`tmp/` litter, removed at the next start.  If the name exists already (the
same layer was applied concurrently, or by another image), the new copy is
discarded.  A caller that knows the chain id in advance (from an image
config) asks `exists(name)` first and skips the work.

Preparing a container rootfs
----------------------------
For an image whose top layer has chain id C, the runtime asks
`prepare(key=<container id>, parent=C)` and gets, from the overlay
snapshotter, one overlay mount: lowerdir = C's tree and every ancestor's,
topmost first; upperdir and workdir inside `active/<key>`.  The native
snapshotter instead copies C's (already flattened) tree into `active/<key>/fs`
and returns a bind mount of it.  Writes land in the active snapshot only.
`remove(key)` discards it when the container is removed; `commit(name, key)`
would turn it into a committed snapshot (docker commit, builds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator, Protocol

from dockyard.content.digest import Digest
from dockyard.mount import Mount
from dockyard.snapshots.apply import Compression


@dataclass(frozen=True, slots=True)
class LayerResult:
    """What applying one layer produced."""

    chain_id: Digest
    diff_id: Digest
    size: int  # bytes of file content in the layer (docker's per-layer Size)
    compression: Compression
    created: bool  # False when the snapshot existed already


class Snapshotter(Protocol):
    driver_name: str  # what `docker info` / GraphDriver.Name report

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        """Create a writable active snapshot on `parent`; its mounts."""

    def view(self, key: str, parent: str) -> list[Mount]:
        """Create a read-only active snapshot of `parent`; its mounts."""

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an existing active snapshot (NotFound otherwise)."""

    def commit(self, name: str, key: str) -> None:
        """Turn active `key` (unmounted) into committed `name`; `key` is gone."""

    def remove(self, key_or_name: str) -> None:
        """Remove an active or committed snapshot; Conflict if it has children."""

    def exists(self, name: str) -> bool:
        """Whether committed snapshot `name` exists."""

    def active_exists(self, key: str) -> bool:
        """Whether active snapshot `key` exists."""

    def parent(self, key_or_name: str) -> str | None:
        """The parent's name, or None."""

    def usage(self, key_or_name: str) -> int:
        """Bytes used on disk by this snapshot alone."""

    def apply_layer(self, parent: str | None, stream: BinaryIO) -> LayerResult:
        """Unpack a layer tar on `parent` into a new committed snapshot."""

    def read_file(self, name: str, path: str) -> bytes:
        """Read a file as seen in `name`'s merged tree, without mounting."""

    def layer_dirs(self, name: str) -> list[str]:
        """The directories making up `name`'s tree, topmost first."""

    def walk(self) -> Iterator[str]:
        """Every committed snapshot's name."""

    def cleanup(self) -> None:
        """Remove leftovers of interrupted work (tmp/); call at start."""
