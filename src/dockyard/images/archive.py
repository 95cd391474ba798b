"""Image archives: `docker save` and `docker load`, in docker's format and the OCI image layout.

What `save` writes is what docker 25+ writes: an OCI image layout that is
also a docker archive, so that every docker since 1.10 (which reads
manifest.json) and every OCI tool (which reads index.json) can load it::

    blobs/sha256/<hex>   image configs; layers as the content store holds them
                         (tar or tar+gzip); one OCI manifest per image
    index.json           an OCI index naming each image's manifest once per tag, with
                         io.containerd.image.name=docker.io/library/busybox:latest and
                         org.opencontainers.image.ref.name=latest (untagged: once, bare)
    manifest.json        [{"Config": "blobs/sha256/<hex>", "RepoTags": ["busybox:latest"],
                           "Layers": ["blobs/sha256/<hex>", …]}]       (base layer first)
    oci-layout           {"imageLayoutVersion": "1.0.0"}
    repositories         {"busybox": {"latest": "<top layer's hex>"}}  (pre-1.10 readers)

`Layout.OCI` leaves out manifest.json and repositories: the OCI layout alone.

What `load` reads: that; what docker 20.10 to 24 write (manifest.json
naming ``<config hex>.json`` and ``<v1 id>/layer.tar``, plus ``<v1 id>/json``
and ``VERSION`` files it ignores, and symlinks between layer.tar files that
two images share); and a pure OCI image layout (skopeo, buildah,
containerd), whose index.json may name manifests or nested indexes (the
linux/amd64 image is taken).  When both manifest.json and index.json are
present, manifest.json is read, as docker reads it.  The tar may be
compressed (gzip, bzip2, xz); a directory holding a layout loads too
(`load_directory`; the CLI sends a directory as a tar).

Loading is all or nothing.  Every check of `archive_read` passes before the
first write to the image store; then the layers are ingested and unpacked,
then every image is registered, then tagged.  A layer the applier still
refuses (a symlink inside it leading out, say) fails before any image is
registered: what was unpacked is unlisted (image prune collects it) and the
blobs stay unreferenced.  A failure while registering removes the images
this load added.  So no tag and no image come of a bad archive.

`ImageArchive` is the service; its events (`LayerLoaded`, `ImageLoaded`)
become docker's JSON messages at the API edge.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Sequence

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.errors import DockyardError, NotFound
from dockyard.images import mediatypes
from dockyard.images.archive_read import SPOOL_PREFIX, Spool, VerifiedImage, read_images, receive, verify
from dockyard.images.archive_save import Layout, SavedImage, SaveStream, describe, select_images
from dockyard.images.reference import Reference
from dockyard.images.store import ImageStore, LayerRecord
from dockyard.snapshots.apply import Compression, chain_id, detect_compression


@dataclass(frozen=True, slots=True)
class LayerLoaded:
    """A layer the store did not have, now unpacked (docker's "Loading layer")."""

    diff_id: Digest
    size: int  # bytes of the layer file in the archive


@dataclass(frozen=True, slots=True)
class ImageLoaded:
    image_id: str
    tags: tuple[Reference, ...]
    # tags that named another image before: (tag, that image's id)
    replaced: tuple[tuple[Reference, str], ...] = ()


LoadEvent = LayerLoaded | ImageLoaded


class ImageArchive:
    """Save images as an archive stream; load archives into the store.

    `scratch_dir` (the data root's tmp) holds received archives while they
    are checked and imported; the spools a killed daemon left there are
    removed when the service is made.
    """

    def __init__(self, store: ImageStore, scratch_dir: str):
        self.store = store
        self.scratch_dir = scratch_dir
        self._remove_stale_spools()

    def _remove_stale_spools(self) -> None:
        if not os.path.isdir(self.scratch_dir):
            return
        for entry in os.listdir(self.scratch_dir):
            if entry.startswith(SPOOL_PREFIX):
                shutil.rmtree(os.path.join(self.scratch_dir, entry), ignore_errors=True)

    # -- save -----------------------------------------------------------------------------

    def select(self, names: Sequence[str]) -> list[SavedImage]:
        """What `names` save (NotFound for an unknown one): call before answering, so errors get their status."""
        return select_images(self.store, names)

    def save(self, images: Sequence[SavedImage], layout: Layout = Layout.DOCKER) -> SaveStream:
        """The archive as a stream of tar chunks; close it when done."""
        return SaveStream(describe(images, layout), self.store.content)

    # -- load -------------------------------------------------------------------------------

    def receive(self, stream: BinaryIO) -> Spool:
        """Unpack the archive read from `stream` into a spool (InvalidArgument if it is not a safe tar)."""
        return receive(stream, self.scratch_dir)

    def load(self, spool: Spool) -> Iterator[LoadEvent]:
        """Check, then import, the images of a received archive; events as they happen.

        Raises InvalidArgument (with "invalid archive: …") for anything wrong
        with the archive; see the module docstring for what is left behind.
        """
        verified = verify(spool, read_images(spool))
        unpacked: list[tuple[VerifiedImage, list[LayerRecord]]] = []
        blobs: dict[Digest, Descriptor] = {}
        for image in verified:
            layers = yield from self._unpack(spool, image, blobs)
            unpacked.append((image, layers))
        registered = self._register(unpacked)
        # Every tag before the first event: a reader that stops listening cannot leave half of them.
        yield from [self._tag(image_id, image.source.tags) for image, image_id in registered]

    def load_directory(self, path: str) -> Iterator[LoadEvent]:
        """Load an image layout directory in place (it is read, never changed)."""
        return self.load(Spool.of_directory(path))

    def _unpack(self, spool: Spool, image: VerifiedImage,
                blobs: dict[Digest, Descriptor]) -> Iterator[LoadEvent]:
        """Store each layer blob (once per load) and unpack it; returns the layer records."""
        records: list[LayerRecord] = []
        parent: Digest | None = None
        for layer in image.layers:
            blob = blobs.get(layer.digest)
            if blob is None:
                blob = blobs[layer.digest] = self._ingest(spool, layer.path, layer.digest)
            known = self.store.snapshotter.exists(str(chain_id(parent, layer.diff_id)))
            record = self.store.unpack_layer(parent, blob, layer.diff_id)
            if not known:
                yield LayerLoaded(layer.diff_id, spool.size(layer.path))
            records.append(record)
            parent = record.chain_id
        return records

    def _ingest(self, spool: Spool, path: str, digest: Digest) -> Descriptor:
        with spool.open(path) as f:
            if self.store.content.exists(digest):
                # Verified to be these very bytes: no second copy.
                kind = detect_compression(f.read(6))
                media_type = mediatypes.DOCKER_LAYER_GZIP if kind is Compression.GZIP else mediatypes.DOCKER_LAYER
                if kind in (Compression.NONE, Compression.GZIP):
                    return Descriptor(media_type, digest, self.store.content.size(digest))
                f.seek(0)
            return self.store.ingest_layer_blob(f)

    def _register(self, unpacked: list[tuple[VerifiedImage, list[LayerRecord]]]) -> list[tuple[VerifiedImage, str]]:
        """Record every image, or none: a failure removes those this load added."""
        added: list[str] = []
        out = []
        try:
            for image, layers in unpacked:
                source = image.source
                existed = self.store.exists(str(source.image_id))
                # An OCI manifest is kept when it names the blobs as stored (bzip2 and xz
                # layers are stored decompressed, so theirs would not).
                keep = source.manifest is not None and all(
                    record.blob is not None and record.blob.digest == layer.digest
                    for record, layer in zip(layers, image.layers))
                image_id = self.store.register(source.config_bytes, layers, source.manifest if keep else None)
                if not existed:
                    added.append(image_id)
                out.append((image, image_id))
        except BaseException:
            for image_id in added:
                with contextlib.suppress(DockyardError):
                    self.store.delete(image_id, force=True, prune=False)
            raise
        return out

    def _tag(self, image_id: str, tags: tuple[Reference, ...]) -> ImageLoaded:
        replaced = []
        for tag in tags:
            try:
                previous = self.store.resolve(str(tag))
            except NotFound:
                previous = None
            self.store.tag(image_id, str(tag))
            if previous is not None and previous != image_id:
                replaced.append((tag, previous))
        return ImageLoaded(image_id, tags, tuple(replaced))


__all__ = ["ImageArchive", "ImageLoaded", "LayerLoaded", "LoadEvent", "Layout", "SaveStream", "SavedImage", "Spool"]
