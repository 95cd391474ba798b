"""The local image store: records in SQLite, blobs in the content store,
unpacked layers in the snapshotter.

An image is its config blob (the Image ID is that blob's digest), a manifest
naming the config and layer blobs, and one committed snapshot per layer,
named by chain id.  Tags map normalised references (`docker.io/library/
busybox:latest`, or with `@sha256:…` for RepoDigests) to image ids.

This module owns the schema and everything that reads or adds records:
resolving names (docker's order: full ID, reference, ID prefix), listing with
`docker images` filters, importing and unpacking layers, registering images,
tagging, history, and container root filesystems.  Layers and blobs are shared
between images and nothing counts references; removing images and collecting
what they alone held is `removal.py`'s job, which `delete`, `prune` and
`collect_snapshots` delegate to.

Operations that change records hold one lock, shared with removal, so that a
delete cannot remove a layer an import has just found and decided to reuse.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Iterable, Mapping, Sequence

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.content.store import ContentStore, iter_chunks
from dockyard.errors import InvalidArgument, NotFound
from dockyard.images import mediatypes
from dockyard.images.changes import apply_changes
from dockyard.images.config import ContainerConfig, HistoryEntry, ImageConfig
from dockyard.images.manifest import Manifest
from dockyard.images.reference import Reference, parse_reference
from dockyard.images.removal import ImageRemoval, InUseBy, nobody
from dockyard.images.timefmt import now_rfc3339_nano, parse_rfc3339
from dockyard.metadata.db import Database
from dockyard.mount import Mount
from dockyard.images.filters import parse_until, reference_match
from dockyard.snapshots.apply import Compression, RawAdapter, chain_id, decompressed, detect_compression
from dockyard.snapshots.snapshotter import Snapshotter

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id              TEXT PRIMARY KEY,       -- sha256:<hex> of the config blob
    manifest_digest TEXT,                   -- sha256:<hex> of the manifest blob
    created         REAL NOT NULL,          -- unix seconds, from the config
    size            INTEGER NOT NULL,       -- sum of the layers' sizes
    parent          TEXT NOT NULL DEFAULT '', -- parent image id (local builds)
    last_tag_time   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,           -- 0 = base layer
    chain_id    TEXT NOT NULL,
    diff_id     TEXT NOT NULL,
    blob_digest TEXT,                       -- the layer blob as stored, if kept
    media_type  TEXT NOT NULL DEFAULT '',
    blob_size   INTEGER NOT NULL DEFAULT 0,
    size        INTEGER NOT NULL,           -- uncompressed content bytes
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE INDEX IF NOT EXISTS image_layers_blob ON image_layers(blob_digest);
CREATE TABLE IF NOT EXISTS image_tags (
    ref      TEXT PRIMARY KEY,              -- normalised reference, tag or digest
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS image_tags_image ON image_tags(image_id);
"""

_MIN_PREFIX = 1  # docker resolves any unique prefix of an ID


@dataclass(frozen=True, slots=True)
class LayerRecord:
    chain_id: Digest
    diff_id: Digest
    size: int
    blob: Descriptor | None = None


@dataclass(frozen=True, slots=True)
class ImageRecord:
    id: str
    manifest_digest: str | None
    created: float
    size: int
    parent: str
    last_tag_time: str
    refs: tuple[str, ...]  # normalised: tags and digests

    @property
    def tags(self) -> list[str]:
        return [r for r in self.refs if "@" not in r]

    @property
    def digests(self) -> list[str]:
        return [r for r in self.refs if "@" in r]

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]


@dataclass(frozen=True, slots=True)
class HistoryItem:
    id: str  # image id, or "<missing>"
    created: float
    created_by: str
    tags: tuple[str, ...]  # familiar form
    size: int
    comment: str


def _familiar(ref: str) -> str:
    return parse_reference(ref).familiar()


class ImageStore:
    def __init__(self, db: Database, content: ContentStore, snapshotter: Snapshotter):
        self.db = db
        self.content = content
        self.snapshotter = snapshotter
        self._lock = threading.RLock()
        db.ensure_schema(SCHEMA)
        self._removal = ImageRemoval(db, content, snapshotter, self, self._lock)

    # -- reading records ------------------------------------------------------------

    def _record(self, image_id: str) -> ImageRecord:
        row = self.db.query_one("SELECT * FROM images WHERE id = ?", (image_id,))
        if row is None:
            raise NotFound(f"No such image: {image_id}")
        refs = tuple(self.refs(image_id))
        return ImageRecord(row["id"], row["manifest_digest"], row["created"], row["size"], row["parent"], row["last_tag_time"], refs)

    def refs(self, image_id: str) -> list[str]:
        """The image's normalised references (tags and digests), oldest first."""
        return [r["ref"] for r in self.db.query("SELECT ref FROM image_tags WHERE image_id = ? ORDER BY created, ref", (image_id,))]

    def get(self, name_or_id: str) -> ImageRecord:
        return self._record(self.resolve(name_or_id))

    def config(self, image_id: str) -> ImageConfig:
        return ImageConfig.from_bytes(self.content.read_bytes(image_id))

    def config_bytes(self, image_id: str) -> bytes:
        return self.content.read_bytes(image_id)

    def layers(self, image_id: str) -> list[LayerRecord]:
        rows = self.db.query("SELECT * FROM image_layers WHERE image_id = ? ORDER BY position", (image_id,))
        out = []
        for r in rows:
            blob = None
            if r["blob_digest"]:
                blob = Descriptor(r["media_type"], Digest.parse(r["blob_digest"]), r["blob_size"])
            out.append(LayerRecord(Digest.parse(r["chain_id"]), Digest.parse(r["diff_id"]), r["size"], blob))
        return out

    def resolve(self, name_or_id: str) -> str:
        """Full ID, "sha256:" ID, unique ID prefix, or reference → image id.

        The order is docker's: a full ID, then a reference (tag or digest),
        then an ID prefix.  Unknown → NotFound("No such image: busybox:latest").
        """
        text = name_or_id.strip()
        hex_part = text[len("sha256:"):] if text.startswith("sha256:") else text
        if len(hex_part) == 64 and all(c in "0123456789abcdef" for c in hex_part):
            image_id = "sha256:" + hex_part
            if self.db.query_one("SELECT 1 FROM images WHERE id = ?", (image_id,)):
                return image_id
            raise NotFound(f"No such image: {image_id}")
        ref: Reference | None = None
        if not text.startswith("sha256:"):
            try:
                ref = parse_reference(text)
            except InvalidArgument:
                if not _is_hex(text):
                    raise
        if ref is not None:
            row = self.db.query_one("SELECT image_id FROM image_tags WHERE ref = ?", (str(ref),))
            if row is not None:
                return row["image_id"]
            if ref.digest is not None and ref.tag is not None:
                # name:tag@digest resolves by its digest alone, as in docker.
                row = self.db.query_one("SELECT image_id FROM image_tags WHERE ref = ?", (str(ref.with_digest(ref.digest)),))
                if row is not None:
                    return row["image_id"]
        if _is_hex(hex_part) and len(hex_part) >= _MIN_PREFIX:
            rows = self.db.query("SELECT id FROM images WHERE id LIKE ?", (f"sha256:{hex_part}%",))
            if len(rows) == 1:
                return rows[0]["id"]
        raise NotFound(f"No such image: {ref.familiar() if ref is not None else text}")

    def exists(self, name_or_id: str) -> bool:
        try:
            self.resolve(name_or_id)
            return True
        except (NotFound, InvalidArgument):
            return False

    def children(self, image_id: str) -> list[str]:
        return [r["id"] for r in self.db.query("SELECT id FROM images WHERE parent = ?", (image_id,))]

    def list(self, all: bool = False, filters: Mapping[str, Iterable[str]] | None = None) -> list[ImageRecord]:
        """Images, newest first, filtered as `docker images` filters.

        filters: dangling=true|false, label=key|key=value, reference=<glob>,
        before=<image>, since=<image>, until=<unix seconds or RFC 3339>.
        Without `all`, intermediate images (untagged, with children) are hidden.
        """
        filters = {k: list(v) for k, v in (filters or {}).items()}
        for key in filters:
            if key not in ("dangling", "label", "reference", "before", "since", "until"):
                raise InvalidArgument(f"invalid filter '{key}'")
        records = [self._record(r["id"]) for r in self.db.query("SELECT id FROM images ORDER BY created DESC, id")]
        with_children = {r["parent"] for r in self.db.query("SELECT DISTINCT parent FROM images WHERE parent != ''")}
        before = [self._record(self.resolve(v)).created for v in filters.get("before", [])]
        since = [self._record(self.resolve(v)).created for v in filters.get("since", [])]
        until = [parse_until(v) for v in filters.get("until", [])]
        out = []
        for rec in records:
            if not all and not rec.refs and rec.id in with_children:
                continue
            if "dangling" in filters:
                want = filters["dangling"][-1].lower() in ("true", "1")
                if want != (not rec.tags):
                    continue
            if before and not all(rec.created < b for b in before):
                continue
            if since and not all(rec.created > s for s in since):
                continue
            if until and not all(rec.created < u for u in until):
                continue
            if "label" in filters and not self._labels_match(rec.id, filters["label"]):
                continue
            if "reference" in filters:
                if not any(reference_match(p, ref) for p in filters["reference"] for ref in rec.refs):
                    continue
            out.append(rec)
        return out

    def _labels_match(self, image_id: str, wanted: list[str]) -> bool:
        labels = self.config(image_id).config.labels
        for item in wanted:
            key, sep, value = item.partition("=")
            if key not in labels or (sep and labels[key] != value):
                return False
        return True

    # -- creating images -----------------------------------------------------------------

    def import_layer(
        self,
        stream: BinaryIO,
        ref: str | None = None,
        changes: Sequence[str] = (),
        message: str = "",
        architecture: str = "amd64",
        os_name: str = "linux",
    ) -> str:
        """`docker import`: one layer tar (plain or compressed) → a tagged image."""
        container_config = apply_changes(ContainerConfig(), list(changes))
        parsed = parse_reference(ref) if ref else None
        if parsed is not None and parsed.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        blob = self.ingest_layer_blob(stream)
        layer = self.unpack_layer(None, blob)
        created = now_rfc3339_nano()
        config = ImageConfig(
            diff_ids=(layer.diff_id,),
            config=container_config,
            history=(HistoryEntry(created=created, comment=message),),
            created=created,
            comment=message,
            architecture=architecture,
            os=os_name,
        )
        image_id = self.register(config.to_bytes(), [layer])
        if parsed is not None:
            self.tag(image_id, str(parsed))
        return image_id

    def commit(
        self,
        parent_id: str,
        layer: BinaryIO,
        container_config: Mapping[str, Any],
        changes: Sequence[str] = (),
        comment: str = "",
        author: str = "",
        created_by: str = "",
        ref: str | None = None,
    ) -> str:
        """`docker commit`: the parent image plus one layer of a container's changes.

        The new image's config is the container's (already merged with the
        parent's), with `changes` applied on top, as docker does.
        """
        parsed = parse_reference(ref) if ref else None
        config = apply_changes(ContainerConfig.from_json(container_config), list(changes))
        entry = HistoryEntry(created=now_rfc3339_nano(), created_by=created_by, author=author, comment=comment)
        image_id = self.derive(parent_id, layer, config, entry, author=author, comment=comment)
        if parsed is not None:
            self.tag(image_id, str(parsed))
        return image_id

    def derive(
        self,
        parent_id: str | None,
        layer: BinaryIO | None,
        config: ContainerConfig,
        entry: HistoryEntry,
        author: str | None = None,
        comment: str = "",
    ) -> str:
        """A child of `parent_id` (None: from scratch): the parent's layers plus
        `layer` if given (else the history entry is marked empty_layer), with
        `config` and `entry` appended to the parent's history.  The parent is
        recorded, so `history` shows the ids of locally built ancestors.

        `author` None keeps the parent's; the builder's MAINTAINER sets it.
        """
        parent = self.config(parent_id) if parent_id else None
        layers = self.layers(parent_id) if parent_id else []
        if layer is not None:
            blob = self.ingest_layer_blob(layer)
            layers = [*layers, self.unpack_layer(layers[-1].chain_id if layers else None, blob)]
        else:
            entry = replace(entry, empty_layer=True)
        created = entry.created or now_rfc3339_nano()
        image = ImageConfig(
            diff_ids=tuple(layer_.diff_id for layer_ in layers),
            config=config,
            history=(parent.history if parent else ()) + (replace(entry, created=created),),
            created=created,
            author=author if author is not None else (parent.author if parent else ""),
            comment=comment,
            architecture=parent.architecture if parent else "amd64",
            os=parent.os if parent else "linux",
        )
        return self.register(image.to_bytes(), layers, parent=parent_id or "")

    def ingest_layer_blob(self, stream: BinaryIO) -> Descriptor:
        """Store a layer blob as received when plain or gzip; bzip2/xz are stored decompressed."""
        import io

        buffered = io.BufferedReader(RawAdapter(stream), 1 << 16)
        kind = detect_compression(buffered.peek(6)[:6])
        if kind is Compression.GZIP:
            return self.content.ingest(iter_chunks(buffered), media_type=mediatypes.DOCKER_LAYER_GZIP)
        if kind is Compression.NONE:
            return self.content.ingest(iter_chunks(buffered), media_type=mediatypes.DOCKER_LAYER)
        plain, _ = decompressed(buffered)
        return self.content.ingest(iter_chunks(plain), media_type=mediatypes.DOCKER_LAYER)

    def unpack_layer(self, parent: Digest | None, blob: Descriptor, expected_diff_id: Digest | None = None) -> LayerRecord:
        """Unpack a stored layer blob on `parent` (a chain id); reuses an existing snapshot."""
        if expected_diff_id is not None:
            name = chain_id(parent, expected_diff_id)
            if self.snapshotter.exists(str(name)):
                size = self._known_layer_size(name)
                if size is not None:
                    return LayerRecord(name, expected_diff_id, size, blob)
        with self.content.open(blob.digest) as f:
            result = self.snapshotter.apply_layer(str(parent) if parent else None, f)
        if expected_diff_id is not None and result.diff_id != expected_diff_id:
            raise InvalidArgument(f"layer {blob.digest}: diff id {result.diff_id} does not match the config's {expected_diff_id}")
        return LayerRecord(result.chain_id, result.diff_id, result.size, blob)

    def _known_layer_size(self, chain: Digest) -> int | None:
        row = self.db.query_one("SELECT size FROM image_layers WHERE chain_id = ? LIMIT 1", (str(chain),))
        return row["size"] if row else None

    def unpack(self, config: ImageConfig, blobs: Sequence[Descriptor]) -> list[LayerRecord]:
        """Unpack every layer of an image (pull, load), skipping snapshots that exist."""
        if len(blobs) != len(config.diff_ids):
            raise InvalidArgument(f"image has {len(config.diff_ids)} diff ids but {len(blobs)} layer blobs")
        out: list[LayerRecord] = []
        parent: Digest | None = None
        for blob, diff_id in zip(blobs, config.diff_ids):
            layer = self.unpack_layer(parent, blob, diff_id)
            out.append(layer)
            parent = layer.chain_id
        return out

    def register(self, config_bytes: bytes, layers: Sequence[LayerRecord], manifest_bytes: bytes | None = None, parent: str = "") -> str:
        """Record an image whose layers are unpacked; writes config and manifest blobs.

        Without `manifest_bytes`, a Docker schema 2 manifest is written from
        the layers' blobs (layers without a blob are left out of it).
        """
        config_desc = self.content.ingest_bytes(config_bytes, media_type=mediatypes.DOCKER_CONFIG)
        config = ImageConfig.from_bytes(config_bytes)
        if [str(d) for d in config.diff_ids] != [str(layer.diff_id) for layer in layers]:
            raise InvalidArgument("image config diff ids do not match its layers")
        if manifest_bytes is None and all(layer.blob is not None for layer in layers):
            manifest_bytes = Manifest(config_desc, tuple(layer.blob for layer in layers if layer.blob)).to_bytes()
        manifest_digest = None
        if manifest_bytes is not None:
            manifest_digest = str(self.content.ingest_bytes(manifest_bytes).digest)
        image_id = str(config_desc.digest)
        with self._lock, self.db.transaction() as cur:
            if cur.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone():
                return image_id
            cur.execute(
                "INSERT INTO images (id, manifest_digest, created, size, parent) VALUES (?, ?, ?, ?, ?)",
                (image_id, manifest_digest, parse_rfc3339(config.created) or time.time(), sum(layer.size for layer in layers), parent),
            )
            for position, layer in enumerate(layers):
                cur.execute(
                    "INSERT INTO image_layers (image_id, position, chain_id, diff_id, blob_digest, media_type, blob_size, size)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        image_id, position, str(layer.chain_id), str(layer.diff_id),
                        str(layer.blob.digest) if layer.blob else None,
                        layer.blob.media_type if layer.blob else "",
                        layer.blob.size if layer.blob else 0,
                        layer.size,
                    ),
                )
        return image_id

    # -- tags ------------------------------------------------------------------------------

    def tag(self, source: str, target: str) -> str:
        """Point reference `target` at the image `source` names; returns the normalised ref."""
        image_id = self.resolve(source)
        ref = parse_reference(target)
        if ref.digest is not None and ref.tag is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        now = now_rfc3339_nano()
        with self._lock, self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO image_tags (ref, image_id, created) VALUES (?, ?, ?)"
                " ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, created = excluded.created",
                (str(ref), image_id, time.time()),
            )
            cur.execute("UPDATE images SET last_tag_time = ? WHERE id = ?", (now, image_id))
        return str(ref)

    def untag(self, reference: str) -> str:
        ref = parse_reference(reference)
        with self._lock, self.db.transaction() as cur:
            if cur.execute("DELETE FROM image_tags WHERE ref = ?", (str(ref),)).rowcount == 0:
                raise NotFound(f"No such image: {ref.familiar()}")
        return str(ref)

    # -- deleting: the rules live in removal.py ---------------------------------------------

    def delete(self, name: str, force: bool = False, prune: bool = True, in_use_by: InUseBy = nobody) -> list[dict]:
        """`docker rmi`: untag and/or delete, with docker's rules and messages.

        Returns docker's records: [{"Untagged": "busybox:latest"}, {"Deleted": "sha256:…"}].
        """
        return self._removal.delete(name, force, prune, in_use_by)

    def prune(self, dangling_only: bool = True, filters: Mapping[str, Iterable[str]] | None = None, in_use_by: InUseBy = nobody) -> tuple[list[dict], int]:
        """`docker image prune`: (records, bytes reclaimed)."""
        return self._removal.prune(dangling_only, filters, in_use_by)

    def collect_snapshots(self) -> int:
        """Remove committed snapshots no image lists and nothing sits on; bytes freed."""
        return self._removal.collect_snapshots()

    # -- history ----------------------------------------------------------------------------------

    def history(self, name: str) -> list[HistoryItem]:
        """`docker history`: newest first; ids of ancestors known locally, else "<missing>"."""
        image_id = self.resolve(name)
        config = self.config(image_id)
        layers = self.layers(image_id)
        ancestors: list[str] = []
        current = image_id
        while current:
            ancestors.append(current)
            row = self.db.query_one("SELECT parent FROM images WHERE id = ?", (current,))
            current = row["parent"] if row else ""
        items: list[HistoryItem] = []
        entries = config.layer_history() or [(HistoryEntry(created=config.created), 0 if layers else None)]
        for entry, layer_index in entries:
            size = layers[layer_index].size if layer_index is not None and layer_index < len(layers) else 0
            items.append(HistoryItem("<missing>", parse_rfc3339(entry.created), entry.created_by, (), size, entry.comment))
        items.reverse()
        # The newest entry is the image itself; older ones are ancestors we built.
        for i, ancestor in enumerate(ancestors[: len(items)]):
            index = 0 if i == 0 else self._history_index(items, ancestor)
            if index is None:
                continue
            item = items[index]
            tags = tuple(_familiar(r) for r in self.refs(ancestor) if "@" not in r)
            items[index] = HistoryItem(ancestor, item.created, item.created_by, tags, item.size, item.comment)
        return items

    def _history_index(self, items: list[HistoryItem], ancestor: str) -> int | None:
        count = len(self.config(ancestor).history)
        index = len(items) - count
        return index if 0 <= index < len(items) else None

    # -- container root filesystems --------------------------------------------------------------------

    def rootfs_chain(self, image_id: str) -> list[str]:
        """The image's chain ids, base first."""
        return [str(layer.chain_id) for layer in self.layers(image_id)]

    def prepare_rootfs(self, image_id: str, key: str) -> list[Mount]:
        """A writable snapshot for a container on the image's top layer; its mounts."""
        chain = self.rootfs_chain(self.resolve(image_id))
        return self.snapshotter.prepare(key, chain[-1] if chain else None)

    def rootfs_mounts(self, key: str) -> list[Mount]:
        return self.snapshotter.mounts(key)

    def remove_rootfs(self, key: str) -> None:
        try:
            self.snapshotter.remove(key)
        except NotFound:
            pass

    def read_file_in_image(self, image_id: str, path: str) -> bytes:
        """A file as the image's merged tree shows it, e.g. /etc/passwd; NotFound if absent."""
        chain = self.rootfs_chain(self.resolve(image_id))
        if not chain:
            raise NotFound(f"{path}: no such file or directory")
        return self.snapshotter.read_file(chain[-1], path)

    def layer_dirs(self, image_id: str) -> list[str]:
        chain = self.rootfs_chain(image_id)
        return self.snapshotter.layer_dirs(chain[-1]) if chain else []


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


__all__ = ["HistoryItem", "ImageRecord", "ImageStore", "LayerRecord"]
