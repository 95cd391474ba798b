"""Saving images: names → images and tags → the archive's members → tar bytes.

    select_images(store, names)   docker's rules for what a name saves
        │  list[SavedImage]
    describe(images, layout)       pure: every member, in docker's order
        │  list[Member]
    SaveStream(members, content)   the tar, read from the content store as it is sent

Blobs are written as the content store holds them (plain tar or gzip); the
manifests name them by their own digests and media types, and the image
configs' diff ids hold after decompression, which is all either format's
reader checks.  `SaveStream` opens every blob before the first byte is sent,
so an image deleted during a long save cannot cut the archive short (an
open file outlives its name).
"""

from __future__ import annotations

import enum
import tarfile
import threading
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Sequence

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.content.store import Provider
from dockyard.errors import InvalidArgument, NotFound
from dockyard.images import archive_layout as layout_docs
from dockyard.images import mediatypes
from dockyard.images.reference import Reference, is_image_id, parse_reference
from dockyard.images.store import ImageStore

_CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE


class Layout(enum.Enum):
    """What `save` writes."""

    DOCKER = "docker"  # docker 25+: an OCI image layout that is also a docker archive
    OCI = "oci"        # the OCI image layout alone (no manifest.json, no repositories)

    @classmethod
    def parse(cls, text: str | None) -> "Layout":
        try:
            return cls(text or cls.DOCKER.value)
        except ValueError:
            raise InvalidArgument(f"invalid archive format {text!r}: use docker or oci") from None


@dataclass(frozen=True, slots=True)
class SavedImage:
    """One image to write: its config and layer blobs as stored, and the tags to give it."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    tags: tuple[Reference, ...]
    created: int  # seconds; docker stamps the image's blobs with it

    @property
    def image_id(self) -> Digest:
        return self.config.digest


@dataclass(frozen=True, slots=True)
class Member:
    """One entry of the archive: a directory, a document, or a blob from the content store."""

    path: str
    data: bytes | None = None
    blob: Digest | None = None
    size: int = 0
    mtime: int = 0

    @property
    def is_dir(self) -> bool:
        return self.data is None and self.blob is None


# -- what a name saves ------------------------------------------------------------------

def select_images(store: ImageStore, names: Sequence[str]) -> list[SavedImage]:
    """The images `names` ask for, each once, in the order first named (moby's parseNames).

    ``busybox:1`` saves that image tagged busybox:1; ``busybox`` every tag of
    the repository (or, if it has none, the image whose ID starts so); an ID,
    an ID prefix or ``name@digest`` saves the image untagged.  Unknown names
    raise NotFound before anything is written.
    """
    if not names:
        raise InvalidArgument("no image names given: name at least one image to save")
    chosen: dict[str, list[Reference]] = {}
    for name in names:
        for image_id, ref in _resolve(store, name):
            tags = chosen.setdefault(image_id, [])
            if ref is not None and ref not in tags:
                tags.append(ref)
    return [_saved_image(store, image_id, tuple(tags)) for image_id, tags in chosen.items()]


def _resolve(store: ImageStore, name: str) -> list[tuple[str, Reference | None]]:
    if is_image_id(name) or name.startswith("sha256:"):
        return [(store.resolve(name), None)]
    try:
        ref = parse_reference(name, default_tag=False)
    except InvalidArgument:
        return [(store.resolve(name), None)]  # an ID prefix, or docker's parse error
    if ref.digest is not None:
        return [(store.resolve(name), None)]
    if ref.tag is not None:
        return [(store.resolve(str(ref)), ref)]
    tagged = [
        (record.id, tag)
        for record in store.list(all=True)
        for tag in (parse_reference(r) for r in record.tags)
        if tag.name == ref.name
    ]
    return tagged or [(store.resolve(name), None)]


def _saved_image(store: ImageStore, image_id: str, tags: tuple[Reference, ...]) -> SavedImage:
    record = store.get(image_id)
    blobs = []
    for position, layer in enumerate(store.layers(image_id), start=1):
        if layer.blob is None:
            raise NotFound(f"cannot save image {record.short_id}: layer {position} ({layer.diff_id}) has no stored blob")
        blobs.append(layer.blob)
    config = Descriptor(mediatypes.OCI_CONFIG, Digest.parse(image_id), store.content.size(image_id))
    return SavedImage(config, tuple(blobs), tags, int(record.created))


# -- the archive's members -----------------------------------------------------------------

def describe(images: Sequence[SavedImage], layout: Layout = Layout.DOCKER) -> list[Member]:
    """Every member of the archive, sorted by path as docker's tar of its export directory is.

    Blobs are listed once however many images share them.  Each image gets
    an OCI manifest (one blob), named in index.json once per tag (or once,
    unannotated, when untagged); with the DOCKER layout, manifest.json lists
    the same config and layer blobs and `repositories` the tags.
    """
    blobs: dict[Digest, Member] = {}
    documents: list[Member] = []
    index: list[Descriptor] = []
    entries: list[layout_docs.ArchiveEntry] = []
    repositories: list[tuple[Reference, str]] = []

    def add_blob(digest: Digest, size: int, mtime: int, data: bytes | None = None) -> None:
        if digest not in blobs:
            blobs[digest] = Member(layout_docs.blob_path(digest), data, None if data is not None else digest, size, mtime)

    for image in images:
        add_blob(image.config.digest, image.config.size, image.created)
        for layer in image.layers:
            add_blob(layer.digest, layer.size, image.created)
        manifest = layout_docs.oci_manifest(image.config, image.layers)
        manifest_desc = Descriptor(mediatypes.OCI_MANIFEST, Digest.from_bytes(manifest), len(manifest))
        add_blob(manifest_desc.digest, manifest_desc.size, 0, manifest)
        if image.tags:
            index.extend(
                Descriptor(manifest_desc.media_type, manifest_desc.digest, manifest_desc.size,
                           layout_docs.tag_annotations(tag))
                for tag in image.tags
            )
        else:
            index.append(manifest_desc)
        entries.append(layout_docs.ArchiveEntry(
            layout_docs.blob_path(image.config.digest),
            tuple(tag.familiar() for tag in image.tags),
            tuple(layout_docs.blob_path(layer.digest) for layer in image.layers),
        ))
        if image.layers:
            repositories.extend((tag, image.layers[-1].digest.hex) for tag in image.tags)

    documents.append(_document(layout_docs.OCI_LAYOUT, layout_docs.oci_layout_json()))
    documents.append(_document(layout_docs.INDEX, layout_docs.index_json(index)))
    if layout is Layout.DOCKER:
        documents.append(_document(layout_docs.MANIFEST, layout_docs.manifest_json(entries)))
        if repositories:
            documents.append(_document(layout_docs.REPOSITORIES, layout_docs.repositories_json(repositories)))
    directories = [Member(layout_docs.BLOBS), Member(f"{layout_docs.BLOBS}/sha256")]
    return sorted(directories + list(blobs.values()) + documents, key=lambda m: m.path)


def _document(path: str, data: bytes) -> Member:
    return Member(path, data, None, len(data), 0)


# -- the tar ------------------------------------------------------------------------------------

class SaveStream:
    """The archive's tar bytes, made as they are read: iterate it, then close it.

    Opening it opens every blob, so a missing one fails now (NotFound), before
    a byte is sent.  `close` may come from another thread while a chunk is
    being read (a client that went away): it waits for that chunk.
    """

    def __init__(self, members: Sequence[Member], content: Provider):
        self._members = list(members)
        self._files: dict[Digest, BinaryIO] = {}
        self._lock = threading.Lock()
        self._closed = False
        try:
            for member in self._members:
                if member.blob is not None and member.blob not in self._files:
                    self._files[member.blob] = _open_blob(content, member.blob)
        except BaseException:
            self.close()
            raise
        self._chunks = self._generate()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        with self._lock:
            if self._closed:
                raise StopIteration
            return next(self._chunks)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for f in self._files.values():
                f.close()
            self._files.clear()

    def __enter__(self) -> "SaveStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generate(self) -> Iterator[bytes]:
        for member in self._members:
            yield _header(member)
            if member.data is not None:
                yield member.data
                yield _padding(len(member.data))
            elif member.blob is not None:
                yield from _blob_body(self._files[member.blob], member)
        yield b"\0" * (2 * _BLOCK)


def _open_blob(content: Provider, digest: Digest) -> BinaryIO:
    try:
        return content.open(digest)
    except NotFound:
        raise NotFound(f"cannot save: blob {digest} is missing from the content store") from None


def _header(member: Member) -> bytes:
    info = tarfile.TarInfo(member.path + ("/" if member.is_dir else ""))
    info.type = tarfile.DIRTYPE if member.is_dir else tarfile.REGTYPE
    info.mode = 0o755 if member.is_dir else 0o644
    info.size = 0 if member.is_dir else member.size
    info.mtime = member.mtime
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _blob_body(f: BinaryIO, member: Member) -> Iterator[bytes]:
    """Exactly the promised bytes: a blob that changed size since it was opened is an error, not a bad tar."""
    f.seek(0)
    left = member.size
    while left:
        chunk = f.read(min(left, _CHUNK))
        if not chunk:
            raise NotFound(f"cannot save: blob {member.blob} is shorter than recorded")
        left -= len(chunk)
        yield chunk
    yield _padding(member.size)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


__all__ = ["Layout", "Member", "SaveStream", "SavedImage", "describe", "select_images"]
