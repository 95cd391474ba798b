"""Reading an archive given to `load`: hostile input, checked whole before anything is imported.

    receive(stream, scratch)     the tar (plain or compressed) unpacked into a
        │  Spool                 private directory as it arrives, safely
    read_images(spool)           manifest.json, else index.json → what to load
        │  list[ImageSource]
    verify(spool, sources)       every blob hashed: digests, diff ids, tar structure
        │  list[VerifiedImage]
    (archive.py imports them)

What is refused, and where:

* while unpacking (`receive`): member names that climb out with ``..``,
  hard links that do, symlinks whose target is absolute or climbs out,
  device files, fifos and sparse files; a stream that is not a tar;
* while reading: documents that are not what their format says, paths that
  climb out, a missing or non-regular file (reads resolve symlinks inside
  the spool, never outside), a config that is not a linux image, a layer
  count that differs from the config's diff ids, a tag that is not
  ``name:tag``;
* while verifying: a blob whose bytes do not match its digest (any path
  ``blobs/<algorithm>/<hex>``, and every OCI descriptor, size included), a
  layer that is not a tar or whose uncompressed bytes do not hash to the
  config's diff id, a layer member that would land outside the layer.

All of this happens before the first write to the image store.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.archive.copy_in import extract_stream
from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument
from dockyard.images import archive_layout as docs
from dockyard.images import mediatypes
from dockyard.images.config import ImageConfig
from dockyard.images.reference import Reference
from dockyard.runtime.paths_in_root import secure_join
from dockyard.snapshots.apply import HashingReader, RawAdapter, decompressed

SPOOL_PREFIX = "load-"
_DOCUMENT_LIMIT = 16 << 20  # manifests, indexes and configs are kilobytes
_NESTING_LIMIT = 4
_LOADABLE_LAYERS = (mediatypes.DOCKER_LAYER, mediatypes.DOCKER_LAYER_GZIP, mediatypes.OCI_LAYER,
                    mediatypes.OCI_LAYER_GZIP, mediatypes.DOCKER_FOREIGN_LAYER)


def _invalid(detail: str) -> InvalidArgument:
    return InvalidArgument(f"invalid archive: {detail}")


# -- the spool -------------------------------------------------------------------------------

class Spool:
    """An archive's files in a directory; every read stays inside it.

    A received archive owns its directory (`remove` deletes it); a spool over
    a directory given by the user (`of_directory`) never deletes anything.
    """

    def __init__(self, root: str, owned: bool):
        self.root = os.path.realpath(root)
        self._owned = owned

    @classmethod
    def of_directory(cls, path: str) -> "Spool":
        if not os.path.isdir(path):
            raise InvalidArgument(f"{path} is not a directory")
        return cls(path, owned=False)

    def remove(self) -> None:
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._host(path))

    def open(self, path: str) -> BinaryIO:
        """A regular file of the archive; a missing one, or anything else, is InvalidArgument."""
        host = self._host(path)
        try:
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise _invalid(f"{path} is missing") from None
        except OSError as exc:
            raise _invalid(f"{path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise _invalid(f"{path} is not a regular file")
        return os.fdopen(fd, "rb")

    def read(self, path: str) -> bytes:
        with self.open(path) as f:
            data = f.read(_DOCUMENT_LIMIT + 1)
        if len(data) > _DOCUMENT_LIMIT:
            raise _invalid(f"{path} is larger than {_DOCUMENT_LIMIT >> 20} MiB")
        return data

    def size(self, path: str) -> int:
        with self.open(path) as f:
            return os.fstat(f.fileno()).st_size

    def _host(self, path: str) -> str:
        try:
            return secure_join(self.root, docs.clean_path(path))
        except OSError as exc:  # a symlink loop
            raise _invalid(f"{path}: {exc.strerror or exc}") from None


def receive(stream: BinaryIO, scratch_dir: str) -> Spool:
    """Unpack the archive read from `stream` (tar, or tar compressed with gzip, bzip2 or xz) into a new spool."""
    os.makedirs(scratch_dir, mode=0o700, exist_ok=True)
    spool = Spool(tempfile.mkdtemp(prefix=SPOOL_PREFIX, dir=scratch_dir), owned=True)
    try:
        buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(RawAdapter(stream), 1 << 16)
        if not buffered.peek(1):
            raise _invalid("the archive is empty")
        try:
            plain, _ = decompressed(buffered)
            extract_stream(spool.root, plain, _check_member)
        except InvalidArgument as exc:
            detail = exc.message.removeprefix("invalid archive: ").replace("invalid tar archive: ", "not a tar: ", 1)
            raise _invalid(detail) from None
    except BaseException:
        spool.remove()
        raise
    return spool


def _check_member(member: tarfile.TarInfo) -> None:
    """What an image archive may hold: files, directories, and links that stay inside it."""
    if member.issparse():
        # Never written by docker; a few bytes of it could stand for terabytes on disk.
        raise _invalid(f"{member.name}: sparse files do not belong in an image archive")
    if member.isreg() or member.isdir() or member.islnk():
        return  # names and hard-link targets are checked by the extractor
    if member.issym():
        target = member.linkname
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(member.name.lstrip("/")), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise _invalid(f"symlink {member.name} -> {target} leads outside of the archive")
        return
    raise _invalid(f"{member.name}: device files and fifos do not belong in an image archive")


# -- what to load ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LayerSource:
    """A layer file and what it must hash to (digest and size are known in OCI layouts only)."""

    path: str
    digest: Digest | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class ImageSource:
    config_bytes: bytes
    config: ImageConfig
    layers: tuple[LayerSource, ...]
    tags: tuple[Reference, ...]
    manifest: bytes | None = None  # an OCI layout's manifest, kept as it was

    @property
    def image_id(self) -> Digest:
        return Digest.from_bytes(self.config_bytes)

    @property
    def name(self) -> str:
        return self.tags[0].familiar() if self.tags else self.image_id.short


def read_images(spool: Spool) -> list[ImageSource]:
    """The images an archive holds: from manifest.json when there is one (docker, as docker reads it), else index.json."""
    if spool.exists(docs.MANIFEST):
        sources = [_from_entry(spool, entry) for entry in docs.parse_manifest_json(spool.read(docs.MANIFEST))]
    elif spool.exists(docs.INDEX):
        if spool.exists(docs.OCI_LAYOUT):
            docs.check_oci_layout(spool.read(docs.OCI_LAYOUT))
        sources = _from_index(spool)
    else:
        raise _invalid("it holds neither a manifest.json (docker save) nor an index.json (OCI image layout)")
    merged: dict[Digest, ImageSource] = {}
    for source in sources:
        seen = merged.get(source.image_id)
        if seen is None:
            merged[source.image_id] = source
        else:
            tags = seen.tags + tuple(t for t in source.tags if t not in seen.tags)
            merged[source.image_id] = ImageSource(seen.config_bytes, seen.config, seen.layers, tags, seen.manifest)
    return list(merged.values())


def _from_entry(spool: Spool, entry: docs.ArchiveEntry) -> ImageSource:
    """A manifest.json entry: docker 25+ names blobs/sha256/<hex>, docker up to 24 <hex>.json and <id>/layer.tar."""
    data = spool.read(entry.config)
    expected = docs.digest_of_path(entry.config) or _legacy_config_digest(entry.config)
    if expected is not None and Digest.from_bytes(data) != expected:
        raise _invalid(f"config {entry.config} does not match its digest")
    tags = tuple(docs.parse_repo_tag(t) for t in entry.repo_tags)
    layers = tuple(LayerSource(path, docs.digest_of_path(path)) for path in entry.layers)
    return _source(entry.config, data, layers, tags)


def _legacy_config_digest(path: str) -> Digest | None:
    name = posixpath.basename(path)
    if "/" in path or not name.endswith(".json"):
        return None
    try:
        return Digest("sha256", name[: -len(".json")])
    except InvalidArgument:
        return None


def _from_index(spool: Spool) -> list[ImageSource]:
    out: list[ImageSource] = []
    for entry in docs.select_images(docs.parse_index(spool.read(docs.INDEX))):
        out.append(_from_descriptor(spool, entry, entry.reference(), 0))
    if not out:
        raise _invalid("index.json names no linux/amd64 image")
    return out


def _from_descriptor(spool: Spool, entry: docs.IndexEntry, tag: Reference | None, depth: int) -> ImageSource:
    """An index entry → the image it names, following nested indexes to their linux/amd64 image."""
    desc = entry.descriptor
    if entry.is_index:
        if depth >= _NESTING_LIMIT:
            raise _invalid(f"indexes nested more than {_NESTING_LIMIT} deep")
        nested = docs.select_images(docs.parse_index(_read_blob(spool, desc), docs.blob_path(desc.digest)))
        if not nested:
            raise _invalid(f"index {desc.digest} has no linux/amd64 image")
        return _from_descriptor(spool, nested[0], tag, depth + 1)
    if desc.media_type and desc.media_type not in mediatypes.MANIFESTS:
        raise _invalid(f"{desc.digest}: unsupported manifest media type {desc.media_type!r}")
    manifest = _read_blob(spool, desc)
    config_desc, layer_descs = docs.parse_manifest(manifest, docs.blob_path(desc.digest))
    config = _read_blob(spool, config_desc)
    layers = []
    for layer in layer_descs:
        if layer.media_type == mediatypes.OCI_LAYER_ZSTD:
            raise _invalid(f"layer {layer.digest}: zstd-compressed layers are not supported")
        if layer.media_type and layer.media_type not in _LOADABLE_LAYERS:
            raise _invalid(f"layer {layer.digest}: unsupported media type {layer.media_type!r}")
        layers.append(LayerSource(docs.blob_path(layer.digest), layer.digest, layer.size))
    return _source(docs.blob_path(config_desc.digest), config, tuple(layers), (tag,) if tag else (), manifest)


def _read_blob(spool: Spool, desc: Descriptor) -> bytes:
    path = docs.blob_path(desc.digest)
    data = spool.read(path)
    if len(data) != desc.size or Digest.from_bytes(data) != desc.digest:
        raise _invalid(f"blob {path} does not match its descriptor (digest {desc.digest}, size {desc.size})")
    return data


def _source(path: str, data: bytes, layers: tuple[LayerSource, ...], tags: tuple[Reference, ...],
            manifest: bytes | None = None) -> ImageSource:
    try:
        config = ImageConfig.from_bytes(data)
    except InvalidArgument as exc:
        raise _invalid(f"{path}: {exc.message}") from None
    except (AttributeError, TypeError, ValueError) as exc:
        raise _invalid(f"{path}: invalid image config: {exc}") from None
    if config.os != "linux":
        raise _invalid(f"cannot load {config.os} image on linux")
    if len(layers) != len(config.diff_ids):
        raise _invalid(f"invalid manifest, layers length mismatch: expected {len(layers)}, got {len(config.diff_ids)}")
    return ImageSource(data, config, layers, tags, manifest)


# -- verifying every byte ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VerifiedLayer:
    path: str
    digest: Digest   # of the file as it is in the archive
    diff_id: Digest  # of its uncompressed tar


@dataclass(frozen=True, slots=True)
class VerifiedImage:
    source: ImageSource
    layers: tuple[VerifiedLayer, ...]


def verify(spool: Spool, sources: list[ImageSource]) -> list[VerifiedImage]:
    """Hash every layer once: the file against its digest, its tar against the config's diff id."""
    hashed: dict[str, tuple[Digest, Digest, int]] = {}
    out = []
    for source in sources:
        layers = []
        for position, (layer, diff_id) in enumerate(zip(source.layers, source.config.diff_ids), start=1):
            what = f"layer {position} of {source.name} ({layer.path})"
            if layer.path not in hashed:
                hashed[layer.path] = _hash_layer(spool, layer.path, what)
            digest, actual_diff_id, size = hashed[layer.path]
            if layer.digest is not None and digest != layer.digest:
                raise _invalid(f"{what} does not match its digest {layer.digest}: got {digest}")
            if layer.size is not None and size != layer.size:
                raise _invalid(f"{what} is {size} bytes, its descriptor says {layer.size}")
            if actual_diff_id != diff_id:
                raise _invalid(f"{what} does not match the image's diff id {diff_id}: got {actual_diff_id}")
            layers.append(VerifiedLayer(layer.path, digest, actual_diff_id))
        out.append(VerifiedImage(source, tuple(layers)))
    return out


def _hash_layer(spool: Spool, path: str, what: str) -> tuple[Digest, Digest, int]:
    """(digest of the file, digest of the uncompressed tar, file size), reading the tar's structure on the way."""
    with spool.open(path) as f:
        raw = HashingReader(f)
        try:
            plain, _ = decompressed(raw)  # type: ignore[arg-type]
            tar_bytes = HashingReader(plain)
            with tarfile.open(fileobj=tar_bytes, mode="r|", errorlevel=2) as tar:  # type: ignore[call-overload]
                for member in tar:
                    _check_layer_member(member, what)
            tar_bytes.drain()  # the diff id covers the whole stream, padding included
            raw.drain()
        except InvalidArgument as exc:
            raise _invalid(f"{what}: {exc.message.removeprefix('invalid archive: ')}") from None
        except (tarfile.TarError, EOFError, ValueError, OSError) as exc:
            raise _invalid(f"{what} is not a valid layer tar: {exc}") from None
        return raw.digest, tar_bytes.digest, raw.size


def _check_layer_member(member: tarfile.TarInfo, what: str) -> None:
    """The layer applier's own rule, checked early so a hostile layer is refused before any import."""
    for name in (member.name, member.linkname if member.islnk() else ""):
        if not name:
            continue
        norm = posixpath.normpath(name)
        if norm.startswith("/") or norm == ".." or norm.startswith("../"):
            raise _invalid(f"path {name!r} escapes the layer root")


__all__ = [
    "ImageSource", "LayerSource", "Spool", "VerifiedImage", "VerifiedLayer", "read_images", "receive", "verify",
]
