"""Removing images: `docker rmi`, `docker image prune`, and collecting
snapshots that nothing lists any more.

Vocabulary.  A *reference* is a normalised tag or digest reference in the
`image_tags` table; *untagging* drops one, *deleting* drops the image record
and then whatever it alone held.  A *user* is a container on the image, as
the injected `InUseBy` callable reports it (`ContainerUse`); the store itself
knows nothing of containers.

Deleting follows docker's rules and messages (daemon/images/image_delete.go):

- A name that is a reference untags it; the image itself is deleted only when
  that was its last reference.  Untagging the last tag of a repository also
  drops that repository's digest references.
- An ID (or ID prefix) deletes the image, untagging it first when all its
  references are one repository.
- Conflicts come in two kinds.  *Hard* ones cannot be forced: the image has
  child images, or a running container uses it.  *Soft* ones must be forced:
  the image is referenced in several repositories, or a stopped container
  uses it.  The first conflict found is raised as `Conflict`, hard ones first.
- With `prune`, a deleted image's parent goes too when it has become an
  untagged, unused leaf (quietly: a parent that cannot go is kept, no error).

Layers and blobs are shared between images and nothing counts references.
Once an image's record is gone, the database is asked which of its chain ids
and blobs no other image lists, and exactly those are removed, top layer
first.  A snapshot that still has a container's writable layer on it is left
in place; `collect_snapshots` (run by `prune`) removes it once free.

`delete` and `prune` hold the image store's lock, the one `register` takes,
so that a delete cannot remove a layer an import has just decided to reuse.
The SQL below reads and writes the tables `store.SCHEMA` defines.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Protocol, Sequence

from dockyard.content.store import ContentStore
from dockyard.errors import Conflict, NotFound
from dockyard.images.reference import parse_reference
from dockyard.metadata.db import Database
from dockyard.snapshots.snapshotter import Snapshotter

if TYPE_CHECKING:
    from dockyard.images.store import ImageRecord, LayerRecord


@dataclass(frozen=True, slots=True)
class ContainerUse:
    """A container that uses an image, as the in-use callable reports it."""

    id: str
    running: bool


InUseBy = Callable[[str], Sequence[ContainerUse]]


def nobody(image_id: str) -> Sequence[ContainerUse]:
    """The InUseBy of a store without containers: no image is in use."""
    return ()


class ImageIndex(Protocol):
    """The reads removal needs from the image store."""

    def resolve(self, name_or_id: str) -> str: ...

    def refs(self, image_id: str) -> list[str]: ...

    def layers(self, image_id: str) -> list[LayerRecord]: ...

    def children(self, image_id: str) -> list[str]: ...

    def list(self, all: bool = False, filters: Mapping[str, Iterable[str]] | None = None) -> list[ImageRecord]: ...


class ImageRemoval:
    """Deletes images, layers and blobs; `ImageStore.delete`/`prune` delegate here."""

    def __init__(self, db: Database, content: ContentStore, snapshotter: Snapshotter, index: ImageIndex, lock: threading.RLock):
        self.db = db
        self.content = content
        self.snapshotter = snapshotter
        self._index = index
        self._lock = lock

    def delete(self, name: str, force: bool = False, prune: bool = True, in_use_by: InUseBy = nobody) -> list[dict]:
        """`docker rmi`: untag and/or delete, with docker's rules and messages.

        Returns docker's records: [{"Untagged": "busybox:latest"}, {"Deleted": "sha256:…"}].
        """
        with self._lock:
            image_id = self._index.resolve(name)
            records: list[dict] = []
            refs = self._index.refs(image_id)
            users = list(in_use_by(image_id))
            if not _is_id_prefix(image_id, name):
                ref = parse_reference(name)
                if not force and _single_reference(refs) and users:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{name}" (must force) - '
                        f"container {users[0].id[:12]} is using its referenced image {_short(image_id)}"
                    )
                self.db.execute("DELETE FROM image_tags WHERE ref = ?", (str(ref),))
                records.append({"Untagged": ref.familiar()})
                refs = self._index.refs(image_id)
                if ref.digest is None and not any(parse_reference(r).name == ref.name and "@" not in r for r in refs):
                    # Digest references of the same repository go with its last tag.
                    for r in list(refs):
                        if "@" in r and parse_reference(r).name == ref.name:
                            self.db.execute("DELETE FROM image_tags WHERE ref = ?", (r,))
                            records.append({"Untagged": _familiar(r)})
                    refs = self._index.refs(image_id)
                if refs:
                    return records
                self._delete_helper(image_id, records, force, prune, quiet=True, users=users, in_use_by=in_use_by)
                return records
            if _single_reference(refs):
                self._check_conflict(image_id, users, hard=True, soft=not force, references=False)
                for r in refs:
                    self.db.execute("DELETE FROM image_tags WHERE ref = ?", (r,))
                    records.append({"Untagged": _familiar(r)})
            self._delete_helper(image_id, records, force, prune, quiet=False, users=users, in_use_by=in_use_by)
            return records

    def _check_conflict(self, image_id: str, users: Sequence[ContainerUse], hard: bool, soft: bool, references: bool = True) -> None:
        """Raise docker's Conflict for the first conflict found (hard ones first)."""
        if hard:
            if self._index.children(image_id):
                raise Conflict(f"conflict: unable to delete {_short(image_id)} (cannot be forced) - image has dependent child images")
            running = [u for u in users if u.running]
            if running:
                raise Conflict(
                    f"conflict: unable to delete {_short(image_id)} (cannot be forced) - "
                    f"image is being used by running container {running[0].id[:12]}"
                )
        if soft:
            if references and self._index.refs(image_id):
                raise Conflict(f"conflict: unable to delete {_short(image_id)} (must be forced) - image is referenced in multiple repositories")
            stopped = [u for u in users if not u.running]
            if stopped:
                raise Conflict(
                    f"conflict: unable to delete {_short(image_id)} (must be forced) - "
                    f"image is being used by stopped container {stopped[0].id[:12]}"
                )

    def _delete_helper(self, image_id: str, records: list[dict], force: bool, prune: bool, quiet: bool, users: Sequence[ContainerUse], in_use_by: InUseBy) -> None:
        try:
            self._check_conflict(image_id, users, hard=True, soft=not force)
        except Conflict:
            dangling = not self._index.refs(image_id)
            if quiet and (not dangling or users):
                return
            raise
        parent = self.db.query_one("SELECT parent FROM images WHERE id = ?", (image_id,))["parent"]
        for r in self._index.refs(image_id):
            self.db.execute("DELETE FROM image_tags WHERE ref = ?", (r,))
            records.append({"Untagged": _familiar(r)})
        removed_layers, _ = self._remove_image(image_id)
        records.append({"Deleted": image_id})
        records.extend({"Deleted": chain} for chain in removed_layers)
        if prune and parent and self.db.query_one("SELECT 1 FROM images WHERE id = ?", (parent,)):
            self._delete_helper(parent, records, False, True, True, list(in_use_by(parent)), in_use_by)

    def _remove_image(self, image_id: str) -> tuple[list[str], int]:
        """Drop the record, then the snapshots and blobs no other image lists.

        Returns the chain ids removed and the bytes of layer content freed.
        """
        layers = self._index.layers(image_id)
        manifest = self.db.query_one("SELECT manifest_digest FROM images WHERE id = ?", (image_id,))["manifest_digest"]
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM images WHERE id = ?", (image_id,))
        removed: list[str] = []
        freed = 0
        for layer in reversed(layers):  # top first: a parent cannot go before its child
            chain = str(layer.chain_id)
            if self.db.query_one("SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1", (chain,)):
                continue
            try:
                self.snapshotter.remove(chain)
                removed.append(chain)
                freed += layer.size
            except NotFound:
                pass
            except Conflict:
                break  # a container's layer sits on it; prune collects it later
        for blob in [image_id, manifest] + [str(layer.blob.digest) for layer in layers if layer.blob]:
            if blob and not self._blob_referenced(blob):
                try:
                    self.content.delete(blob)
                except NotFound:
                    pass
        return removed, freed

    def _blob_referenced(self, digest: str) -> bool:
        return bool(
            self.db.query_one("SELECT 1 FROM images WHERE id = ? OR manifest_digest = ? LIMIT 1", (digest, digest))
            or self.db.query_one("SELECT 1 FROM image_layers WHERE blob_digest = ? LIMIT 1", (digest,))
        )

    def prune(self, dangling_only: bool = True, filters: Mapping[str, Iterable[str]] | None = None, in_use_by: InUseBy = nobody) -> tuple[list[dict], int]:
        """`docker image prune`: (records, bytes reclaimed)."""
        filters = {k: list(v) for k, v in (filters or {}).items()}
        if "dangling" in filters:
            dangling_only = filters.pop("dangling")[-1].lower() in ("true", "1")
        records: list[dict] = []
        reclaimed = 0
        with self._lock:
            for rec in self._index.list(all=True, filters=filters):
                if dangling_only and rec.tags:
                    continue
                if in_use_by(rec.id) or self._index.children(rec.id):
                    continue
                if not self.db.query_one("SELECT 1 FROM images WHERE id = ?", (rec.id,)):
                    continue
                for r in self._index.refs(rec.id):
                    self.db.execute("DELETE FROM image_tags WHERE ref = ?", (r,))
                    records.append({"Untagged": _familiar(r)})
                removed, freed = self._remove_image(rec.id)
                records.append({"Deleted": rec.id})
                records.extend({"Deleted": c} for c in removed)
                reclaimed += freed
            reclaimed += self.collect_snapshots()
        return records, reclaimed

    def collect_snapshots(self) -> int:
        """Remove committed snapshots no image lists and nothing sits on; bytes freed."""
        freed = 0
        progress = True
        while progress:
            progress = False
            for name in list(self.snapshotter.walk()):
                if self.db.query_one("SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1", (name,)):
                    continue
                try:
                    size = self.snapshotter.usage(name)
                    self.snapshotter.remove(name)
                    freed += size
                    progress = True
                except (Conflict, NotFound):
                    continue
        return freed


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def _familiar(ref: str) -> str:
    return parse_reference(ref).familiar()


def _is_id_prefix(image_id: str, candidate: str) -> bool:
    return image_id.startswith(candidate) or image_id.split(":", 1)[1].startswith(candidate)


def _single_reference(refs: list[str]) -> bool:
    """docker's isSingleReference: one repository, at most one tag; False when empty."""
    if len(refs) <= 1:
        return len(refs) == 1
    tag_ref = None
    digest_repos = set()
    for r in refs:
        parsed = parse_reference(r)
        if parsed.digest is not None and parsed.tag is None:
            digest_repos.add(parsed.name)
        elif tag_ref is None:
            tag_ref = parsed
        else:
            return False
    single = tag_ref or parse_reference(refs[0])
    return len(digest_repos) == 1 and single.name in digest_repos


__all__ = ["ContainerUse", "ImageIndex", "ImageRemoval", "InUseBy", "nobody"]
