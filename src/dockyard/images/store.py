"""The local image store: records in SQLite, blobs in the content store,
unpacked layers in the snapshotter.

An image is its config blob (the Image ID is that blob's digest), a manifest
naming the config and layer blobs, and one committed snapshot per layer,
named by chain id.  Tags map normalised references (`docker.io/library/
busybox:latest`, or with `@sha256:…` for RepoDigests) to image ids.

Layers and blobs are shared between images; nothing counts references.
Instead, deleting an image asks the database which of its chain ids and blobs
no other image lists, and removes exactly those.  A snapshot that still has a
container's writable layer on it is left in place and collected by `prune`
once free.

Operations that change records hold one lock, so that a delete cannot
remove a layer an import has just found and decided to reuse.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Mapping, Sequence

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.content.store import ContentStore, iter_chunks
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.images import mediatypes
from dockyard.images.changes import apply_changes
from dockyard.images.config import ContainerConfig, HistoryEntry, ImageConfig
from dockyard.images.manifest import Manifest
from dockyard.images.reference import Reference, parse_reference
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
class ContainerUse:
    """A container that uses an image, as the in-use callable reports it."""

    id: str
    running: bool


InUseBy = Callable[[str], Sequence[ContainerUse]]


def _nobody(image_id: str) -> Sequence[ContainerUse]:
    return ()


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


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def _familiar(ref: str) -> str:
    return parse_reference(ref).familiar()


class ImageStore:
    def __init__(self, db: Database, content: ContentStore, snapshotter: Snapshotter):
        self.db = db
        self.content = content
        self.snapshotter = snapshotter
        self._lock = threading.RLock()
        db.ensure_schema(SCHEMA)

    # -- reading records ------------------------------------------------------------

    def _record(self, image_id: str) -> ImageRecord:
        row = self.db.query_one("SELECT * FROM images WHERE id = ?", (image_id,))
        if row is None:
            raise NotFound(f"No such image: {image_id}")
        refs = tuple(r["ref"] for r in self.db.query("SELECT ref FROM image_tags WHERE image_id = ? ORDER BY created, ref", (image_id,)))
        return ImageRecord(row["id"], row["manifest_digest"], row["created"], row["size"], row["parent"], row["last_tag_time"], refs)

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

    # -- deleting --------------------------------------------------------------------------------

    def delete(self, name: str, force: bool = False, prune: bool = True, in_use_by: InUseBy = _nobody) -> list[dict]:
        """`docker rmi`: untag and/or delete, with docker's rules and messages.

        Returns docker's records: [{"Untagged": "busybox:latest"}, {"Deleted": "sha256:…"}].
        """
        with self._lock:
            image_id = self.resolve(name)
            records: list[dict] = []
            refs = self._refs(image_id)
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
                refs = self._refs(image_id)
                if ref.digest is None and not any(parse_reference(r).name == ref.name and "@" not in r for r in refs):
                    # Digest references of the same repository go with its last tag.
                    for r in list(refs):
                        if "@" in r and parse_reference(r).name == ref.name:
                            self.db.execute("DELETE FROM image_tags WHERE ref = ?", (r,))
                            records.append({"Untagged": _familiar(r)})
                    refs = self._refs(image_id)
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

    def _refs(self, image_id: str) -> list[str]:
        return [r["ref"] for r in self.db.query("SELECT ref FROM image_tags WHERE image_id = ? ORDER BY created, ref", (image_id,))]

    def _check_conflict(self, image_id: str, users: Sequence[ContainerUse], hard: bool, soft: bool, references: bool = True) -> None:
        """Raise docker's Conflict for the first conflict found (hard ones first)."""
        if hard:
            if self.children(image_id):
                raise Conflict(f"conflict: unable to delete {_short(image_id)} (cannot be forced) - image has dependent child images")
            running = [u for u in users if u.running]
            if running:
                raise Conflict(
                    f"conflict: unable to delete {_short(image_id)} (cannot be forced) - "
                    f"image is being used by running container {running[0].id[:12]}"
                )
        if soft:
            if references and self._refs(image_id):
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
            dangling = not self._refs(image_id)
            if quiet and (not dangling or users):
                return
            raise
        parent = self.db.query_one("SELECT parent FROM images WHERE id = ?", (image_id,))["parent"]
        for r in self._refs(image_id):
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
        layers = self.layers(image_id)
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

    def prune(self, dangling_only: bool = True, filters: Mapping[str, Iterable[str]] | None = None, in_use_by: InUseBy = _nobody) -> tuple[list[dict], int]:
        """`docker image prune`: (records, bytes reclaimed)."""
        filters = {k: list(v) for k, v in (filters or {}).items()}
        if "dangling" in filters:
            dangling_only = filters.pop("dangling")[-1].lower() in ("true", "1")
        records: list[dict] = []
        reclaimed = 0
        with self._lock:
            for rec in self.list(all=True, filters=filters):
                if dangling_only and rec.tags:
                    continue
                if in_use_by(rec.id) or self.children(rec.id):
                    continue
                if not self.db.query_one("SELECT 1 FROM images WHERE id = ?", (rec.id,)):
                    continue
                for r in self._refs(rec.id):
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
            tags = tuple(_familiar(r) for r in self._refs(ancestor) if "@" not in r)
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


__all__ = ["ContainerUse", "HistoryItem", "ImageRecord", "ImageStore", "LayerRecord", "InUseBy"]
