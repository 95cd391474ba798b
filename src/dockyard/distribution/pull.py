"""Pulling images from a registry into the local image store.

One tag (or digest), in this order:

1. "Pulling from acc/bb"; GET the manifest by tag or digest, accepting the
   OCI and Docker manifest and index types.
2. An index (manifest list) → its entry for the platform (pull_platform) →
   GET that manifest.
3. The config blob (small; verified).  When the store holds that image
   already (its id is the config's digest), nothing more is fetched.
4. Each layer is "Already exists" when its blob is in the content store, or
   when its snapshot (named by chain id) is unpacked and known; the others
   download three at a time, each streamed into the content store, which
   verifies size and digest before the blob becomes visible.
5. Unpacking runs alongside, in layer order: layer n is unpacked as soon as
   it is downloaded and layer n-1 is unpacked; the store checks each diff id
   against the config.
6. `register` the config, the layers and the manifest's bytes; tag
   name:tag, and name@digest so that RepoDigests show what was pulled.
7. "Digest: sha256:…", then after every tag "Status: Downloaded newer image
   for …" or "Status: Image is up to date for …".

A pull that fails or is cancelled part way leaves only whole, verified blobs
(harmless, and reused by the next attempt): the content store renames a
blob into place only once every byte has been checked.

Everything here blocks; the daemon runs a pull in a worker thread and gets
its messages through `report`, which is called from several threads.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

from dockyard.content.descriptor import Descriptor
from dockyard.distribution.auth import Credentials
from dockyard.distribution.client import FetchedManifest, Registries, Repository, iter_blob
from dockyard.distribution.client_http import TransportError
from dockyard.distribution.client_progress import Progress, Report, Throttle, short_id
from dockyard.distribution.pull_platform import Platform, host, index_entries, select_manifest
from dockyard.distribution.push_sources import BlobSources
from dockyard.errors import Forbidden, InvalidArgument, NotFound, Unavailable
from dockyard.images import mediatypes
from dockyard.images.config import ImageConfig
from dockyard.images.manifest import Manifest
from dockyard.images.reference import Reference
from dockyard.images.store import ImageStore, LayerRecord
from dockyard.snapshots.apply import chain_ids

PARALLEL_DOWNLOADS = 3
DOWNLOAD_ATTEMPTS = 3
MAX_CONFIG_SIZE = 8 << 20


class Cancelled(Unavailable):
    """The client went away; the pull stopped."""


@dataclass(frozen=True, slots=True)
class Pulled:
    ref: Reference  # the tag or digest reference now pointing at the image
    image_id: str
    digest: str  # what the registry served for the reference (an index's digest for an index)
    updated: bool  # False: the reference already pointed at this image


def _ignore(_: Progress) -> None:
    pass


class Puller:
    def __init__(self, store: ImageStore, registries: Registries, sources: BlobSources,
                 parallel: int = PARALLEL_DOWNLOADS):
        self.store = store
        self.registries = registries
        self.sources = sources
        self.parallel = parallel

    def pull(
        self,
        ref: Reference,
        credentials: Credentials | None = None,
        platform: Platform | None = None,
        report: Report = _ignore,
        cancel: threading.Event | None = None,
    ) -> list[Pulled]:
        """Pull `ref`: one tag, one digest, or (no tag, no digest) every tag."""
        cancel = cancel or threading.Event()
        repo = self.registries.repository(ref, credentials)
        if ref.is_name_only:
            try:
                tags = repo.tags()
            except Forbidden as exc:
                raise _access_error(ref, exc) from None
            except NotFound as exc:
                raise NotFound(f"repository {ref.familiar_name()} not found: {exc.message}") from None
            if not tags:
                raise NotFound(f"no tags found for {ref.familiar_name()}")
            refs = [ref.with_tag(tag) for tag in tags]
        else:
            refs = [ref.with_digest(ref.digest) if ref.digest else ref]
        pulled = [self._pull_one(repo, r, platform, report, cancel) for r in refs]
        updated = any(p.updated for p in pulled)
        wording = "Downloaded newer image for" if updated else "Image is up to date for"
        report(Progress(f"Status: {wording} {ref.familiar()}"))
        return pulled

    # -- one tag ------------------------------------------------------------------------------

    def _pull_one(self, repo: Repository, ref: Reference, platform: Platform | None, report: Report,
                  cancel: threading.Event) -> Pulled:
        top, manifest_doc = self._manifest(repo, ref, platform or host())
        report(Progress(f"Pulling from {ref.path}", ref.digest or ref.tag or "", plain=True))
        manifest = Manifest.from_bytes(manifest_doc.data, manifest_doc.media_type)
        config_bytes = self._config(repo, manifest.config)
        config = ImageConfig.from_bytes(config_bytes)
        if platform is not None and manifest_doc is top and not platform.matches(config.os, config.architecture, config.variant):
            found = Platform(config.os, config.architecture, config.variant)
            raise NotFound(f"image with reference {ref.familiar()} was found but its platform ({found}) "
                           f"does not match the specified platform ({platform})")
        if len(config.diff_ids) != len(manifest.layers):
            raise InvalidArgument(f"{ref.familiar()}: the manifest lists {len(manifest.layers)} layers "
                                  f"but the config {len(config.diff_ids)} diff ids")
        image_id = str(manifest.config.digest)
        if not self.store.exists(image_id):
            layers = self._layers(repo, manifest, config, report, cancel)
            registered = self.store.register(config_bytes, layers, manifest_doc.data)
            if registered != image_id:
                raise InvalidArgument(f"{ref.familiar()}: config digest {image_id} does not match the image {registered}")
        for blob in (manifest.config, *manifest.layers):
            self.sources.add(str(blob.digest), ref.domain, ref.path)
        target = ref.with_digest(str(top.digest)) if ref.digest else ref
        previous = self._current(target)
        self.store.tag(image_id, str(target))
        if ref.tag is not None:
            self.store.tag(image_id, str(ref.with_digest(str(top.digest))))
        report(Progress(f"Digest: {top.digest}"))
        return Pulled(target, image_id, str(top.digest), previous != image_id)

    def _current(self, ref: Reference) -> str | None:
        try:
            return self.store.resolve(str(ref))
        except (NotFound, InvalidArgument):
            return None

    def _manifest(self, repo: Repository, ref: Reference, platform: Platform) -> tuple[FetchedManifest, FetchedManifest]:
        """(what the reference names, the image manifest chosen from it)."""
        try:
            top = repo.manifest(ref.digest or ref.tag or "latest")
        except (NotFound, Forbidden) as exc:
            raise _access_error(ref, exc) from None
        if top.media_type in mediatypes.INDEXES:
            entry = select_manifest(top.data, platform)
            chosen = repo.manifest(str(entry.digest))
            if chosen.media_type not in mediatypes.MANIFESTS:
                raise InvalidArgument(f"{ref.familiar()}: the index entry for {platform} is a {chosen.media_type}, not an image manifest")
            return top, chosen
        if top.media_type not in mediatypes.MANIFESTS:
            raise InvalidArgument(f"{ref.familiar()}: unsupported manifest media type {top.media_type} "
                                  "(Docker schema 1 images are not supported; re-push the image with a current client)")
        return top, top

    def _config(self, repo: Repository, descriptor: Descriptor) -> bytes:
        if self.store.content.exists(descriptor.digest):
            return self.store.content.read_bytes(descriptor.digest)
        return repo.read_blob(descriptor.digest, MAX_CONFIG_SIZE)

    # -- layers -----------------------------------------------------------------------------------

    def _layers(self, repo: Repository, manifest: Manifest, config: ImageConfig, report: Report,
                cancel: threading.Event) -> list[LayerRecord]:
        blobs = manifest.layers
        diff_ids = config.diff_ids
        chains = chain_ids(list(diff_ids))
        records: list[LayerRecord | None] = [None] * len(blobs)
        wanted: list[int] = []
        for i, blob in enumerate(blobs):
            parent = chains[i - 1] if i else None
            if self.store.content.exists(blob.digest):
                report(Progress("Already exists", short_id(blob.digest)))
                continue
            try:
                # Unpacked and known already: no blob needed (the store looks
                # the snapshot up by chain id before it opens the blob).
                records[i] = self.store.unpack_layer(parent, blob, diff_ids[i])
                report(Progress("Already exists", short_id(blob.digest)))
            except NotFound:
                wanted.append(i)
                report(Progress("Pulling fs layer", short_id(blob.digest)))
        stop = threading.Event()
        stopped = lambda: stop.is_set() or cancel.is_set()  # noqa: E731
        downloads: dict[str, Future] = {}
        pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="pull")
        try:
            for i in wanted:
                key = str(blobs[i].digest)
                if key in downloads:
                    continue
                if len(downloads) >= self.parallel:
                    report(Progress("Waiting", short_id(key)))
                downloads[key] = pool.submit(self._download, repo, blobs[i], report, stopped)
            parent = None
            for i, blob in enumerate(blobs):
                record = records[i]
                if record is None:
                    future = downloads.get(str(blob.digest))
                    if future is not None:
                        future.result()
                    if stopped():
                        raise Cancelled("pull cancelled")
                    record = self.store.unpack_layer(parent, blob, diff_ids[i])
                    if future is not None:
                        report(Progress("Extracting", short_id(blob.digest), blob.size, blob.size))
                        report(Progress("Pull complete", short_id(blob.digest)))
                    records[i] = record
                parent = record.chain_id
        except BaseException:
            stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [r for r in records if r is not None]

    def _download(self, repo: Repository, blob: Descriptor, report: Report, stopped: Callable[[], bool]) -> None:
        """Stream one layer blob into the content store; retried on transport failures."""
        ident = short_id(blob.digest)
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            if stopped():
                raise Cancelled("pull cancelled")
            try:
                self._ingest(repo, blob, report, stopped)
                break
            except TransportError:
                if attempt == DOWNLOAD_ATTEMPTS or stopped():
                    raise
                report(Progress(f"Retrying in {attempt} second{'s' if attempt > 1 else ''}", ident))
                time.sleep(attempt)
        report(Progress("Verifying Checksum", ident))
        report(Progress("Download complete", ident))

    def _ingest(self, repo: Repository, blob: Descriptor, report: Report, stopped: Callable[[], bool]) -> None:
        reply = repo.open_blob(blob.digest)
        throttle = Throttle(report, "Downloading", short_id(blob.digest), blob.size)
        received_all = False

        def chunks() -> Iterator[bytes]:
            nonlocal received_all
            for chunk in iter_blob(reply, blob.size):
                if stopped():
                    raise Cancelled("pull cancelled")
                throttle.add(len(chunk))
                yield chunk
            received_all = True

        try:
            self.store.content.ingest(chunks(), expected=blob.digest, media_type=blob.media_type or mediatypes.DOCKER_LAYER_GZIP)
        except InvalidArgument:
            if received_all:  # every byte came, and they hash to something else
                raise InvalidArgument(f"filesystem layer verification failed for digest {blob.digest}") from None
            raise
        finally:
            reply.close()


def remote_platforms(repo: Repository, reference: str) -> tuple[Descriptor, list[Platform]]:
    """What a tag or digest names in the registry: its descriptor and the
    platforms it serves (`docker manifest inspect`-like, for /distribution)."""
    descriptor = repo.manifest_descriptor(reference)
    fetched = repo.manifest(str(descriptor.digest))
    if fetched.media_type in mediatypes.INDEXES:
        platforms = [Platform(str(p.get("os") or ""), str(p.get("architecture") or ""), str(p.get("variant") or ""))
                     for _, p in index_entries(fetched.data)]
        return descriptor, platforms
    manifest = Manifest.from_bytes(fetched.data, fetched.media_type)
    config = ImageConfig.from_bytes(repo.read_blob(manifest.config.digest, MAX_CONFIG_SIZE))
    return descriptor, [Platform(config.os, config.architecture, config.variant)]


def _access_error(ref: Reference, exc: NotFound | Forbidden) -> NotFound | Forbidden:
    """docker's wording for a reference the registry does not serve us."""
    if isinstance(exc, Forbidden):
        return Forbidden(f"pull access denied for {ref.familiar_name()}, repository does not exist or "
                         f"may require 'docker login': {exc.message}")
    return NotFound(f"manifest for {ref.familiar()} not found: {exc.message}")


__all__ = ["Cancelled", "Pulled", "Puller", "remote_platforms"]
