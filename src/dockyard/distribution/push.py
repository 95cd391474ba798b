"""Pushing images from the local store to a registry.

One tag, in this order:

1. "The push refers to repository [localhost:5000/acc/bb]".
2. The image's manifest: the bytes the store recorded (pulled images keep
   their digest), or a Docker schema 2 manifest written from the layers'
   stored blobs and media types.  Layers built here are plain tars and are
   pushed as such (`application/vnd.docker.image.rootfs.diff.tar`), which
   registries and docker accept; nothing is recompressed.
3. Every layer, five at a time (docker's number), then the config:
   - HEAD the blob: present → "Layer already exists";
   - else ask for a cross-repository mount from a repository of the same
     registry that is known to hold it (push_sources) → "Mounted from acc/other";
   - else upload it, streamed from the content store: one PUT when small,
     PATCH chunks and a PUT when large → "Pushing" … "Pushed".
4. PUT the manifest under the tag → "v1: digest: sha256:… size: 527", and
   the aux message docker's clients read the digest from; the image gains
   the RepoDigest name@digest.

A registry never shows a blob it has not verified, so a push cut part way
leaves nothing visible there; the next push re-checks every blob and
uploads only what is missing.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from dockyard.content.descriptor import Descriptor
from dockyard.distribution.auth import Credentials
from dockyard.distribution.client import Registries, Repository
from dockyard.distribution.client_progress import Progress, Report, Throttle, short_id
from dockyard.distribution.pull import Cancelled
from dockyard.distribution.push_sources import BlobSources
from dockyard.errors import Forbidden, InvalidArgument, NotFound
from dockyard.images import mediatypes
from dockyard.images.manifest import Manifest
from dockyard.images.reference import Reference, parse_reference
from dockyard.images.store import ImageStore, LayerRecord

PARALLEL_UPLOADS = 5


@dataclass(frozen=True, slots=True)
class Pushed:
    ref: Reference
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class _Item:
    """One blob to push, with the id its progress lines carry (a layer's short diff id)."""

    blob: Descriptor
    ident: str
    visible: bool  # layers report progress; the config goes silently


def _ignore(_: Progress) -> None:
    pass


class Pusher:
    def __init__(self, store: ImageStore, registries: Registries, sources: BlobSources,
                 parallel: int = PARALLEL_UPLOADS):
        self.store = store
        self.registries = registries
        self.sources = sources
        self.parallel = parallel

    def push(
        self,
        ref: Reference,
        credentials: Credentials | None = None,
        report: Report = _ignore,
        cancel: threading.Event | None = None,
    ) -> list[Pushed]:
        """Push `ref`'s tag, or every local tag of its repository when it has none."""
        if ref.digest is not None:
            raise InvalidArgument(f"cannot push a digest reference: {ref.familiar()}")
        cancel = cancel or threading.Event()
        refs = [ref] if ref.tag is not None else self._local_tags(ref)
        if not refs:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name()}")
        report(Progress(f"The push refers to repository [{ref.name}]"))
        repo = self.registries.repository(ref, credentials, push=True)
        return [self._push_one(repo, r, report, cancel) for r in refs]

    def _local_tags(self, ref: Reference) -> list[Reference]:
        out = []
        for record in self.store.list(all=True):
            for tag in record.tags:
                parsed = parse_reference(tag)
                if parsed.name == ref.name:
                    out.append(parsed)
        return sorted(out, key=lambda r: r.tag or "")

    def _push_one(self, repo: Repository, ref: Reference, report: Report, cancel: threading.Event) -> Pushed:
        try:
            image_id = self.store.resolve(str(ref))
        except NotFound:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar()}") from None
        layers = self.store.layers(image_id)
        data, media_type, manifest = self._manifest(image_id, layers)
        items = [_Item(blob, short_id(layer.diff_id), True) for blob, layer in zip(manifest.layers, layers)]
        self._push_blobs(repo, ref, items, report, cancel)
        self._push_blobs(repo, ref, [_Item(manifest.config, short_id(manifest.config.digest), False)], _ignore, cancel)
        try:
            digest = repo.put_manifest(ref.tag or "latest", data, media_type)
        except Forbidden as exc:
            raise Forbidden(f"push access denied for {ref.familiar_name()}: {exc.message}") from None
        self.store.tag(image_id, str(ref.with_digest(str(digest))))
        report(Progress(f"{ref.tag}: digest: {digest} size: {len(data)}"))
        report(Progress("", aux={"Tag": ref.tag, "Digest": str(digest), "Size": len(data)}))
        return Pushed(ref, str(digest), len(data))

    def _manifest(self, image_id: str, layers: list[LayerRecord]) -> tuple[bytes, str, Manifest]:
        """The stored manifest when it still describes the image, else one written from its layers."""
        record = self.store.get(image_id)
        if record.manifest_digest and self.store.content.exists(record.manifest_digest):
            data = self.store.content.read_bytes(record.manifest_digest)
            media_type = _media_type(data)
            try:
                manifest = Manifest.from_bytes(data, media_type)
            except InvalidArgument:
                manifest = None
            if manifest is not None and str(manifest.config.digest) == image_id and \
                    [str(b.digest) for b in manifest.layers] == [str(layer.blob.digest) if layer.blob else "" for layer in layers]:
                return data, media_type, manifest
        missing = [str(layer.diff_id) for layer in layers if layer.blob is None]
        if missing:
            raise NotFound(f"cannot push {image_id}: layer {missing[0]} has no stored blob")
        config = self.store.content.info(image_id, mediatypes.DOCKER_CONFIG)
        manifest = Manifest(config, tuple(layer.blob for layer in layers if layer.blob is not None))
        return manifest.to_bytes(), manifest.media_type, manifest

    # -- blobs --------------------------------------------------------------------------------------

    def _push_blobs(self, repo: Repository, ref: Reference, items: list[_Item], report: Report,
                    cancel: threading.Event) -> None:
        for item in items:
            if item.visible:
                report(Progress("Preparing", item.ident))
        stop = threading.Event()
        stopped = lambda: stop.is_set() or cancel.is_set()  # noqa: E731
        pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="push")
        futures: dict[str, Future] = {}
        try:
            for item in items:
                key = str(item.blob.digest)
                if key in futures:
                    continue
                if len(futures) >= self.parallel and item.visible:
                    report(Progress("Waiting", item.ident))
                futures[key] = pool.submit(self._push_blob, repo, ref, item, report, stopped)
            for future in futures.values():
                future.result()
        except BaseException:
            stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _push_blob(self, repo: Repository, ref: Reference, item: _Item, report: Report,
                   stopped: Callable[[], bool]) -> None:
        blob = item.blob
        say = report if item.visible else _ignore
        if stopped():
            raise Cancelled("push cancelled")
        if repo.blob_size(blob.digest) is not None:
            say(Progress("Layer already exists", item.ident))
            self.sources.add(str(blob.digest), ref.domain, ref.path)
            return
        location = None
        for source in self.sources.candidates(str(blob.digest), ref.domain, exclude=ref.path):
            try:
                location = repo.mount_blob(blob.digest, source)
            except (Forbidden, NotFound, InvalidArgument):
                self.sources.forget(str(blob.digest), ref.domain, source)
                continue
            if location is None:
                say(Progress(f"Mounted from {source}", item.ident))
                self.sources.add(str(blob.digest), ref.domain, ref.path)
                return
            break  # the registry opened an upload instead: use it
        if not self.store.content.exists(blob.digest):
            raise NotFound(f"blob {blob.digest} of {ref.familiar()} is neither stored here nor in the registry")
        location = location or repo.start_upload()
        size = self.store.content.size(blob.digest)
        throttle = Throttle(say, "Pushing", item.ident, size)

        def progress(count: int) -> None:
            if stopped():
                raise Cancelled("push cancelled")
            throttle.add(count)

        with self.store.content.open(blob.digest) as stream:
            repo.upload(location, stream, size, blob.digest, progress)
        say(Progress("Pushed", item.ident))
        self.sources.add(str(blob.digest), ref.domain, ref.path)


def _media_type(data: bytes) -> str:
    try:
        declared = json.loads(data).get("mediaType")
    except (ValueError, UnicodeDecodeError, AttributeError):
        declared = None
    return declared if isinstance(declared, str) and declared else mediatypes.OCI_MANIFEST


__all__ = ["Pushed", "Pusher"]
