"""The registry's backend: what the HTTP handlers call, with no HTTP in it.

`Registry` composes the blob store, the repositories' links and the uploads,
and enforces the rules that span them:

- a blob is served through a repository only if the repository links it;
- a manifest is stored only when everything it references is already in the
  repository (config and layers, or an index's child manifests), else
  MANIFEST_BLOB_UNKNOWN and nothing is written;
- a manifest is stored byte for byte; its digest is the hash of those bytes;
- a mount links a blob another repository holds, storing nothing new.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.content.digest import Digest

from . import manifests as mf
from .blobs import BlobStore
from .errcodes import (BLOB_UNKNOWN, DIGEST_INVALID, MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID,
                       MANIFEST_UNKNOWN, NAME_UNKNOWN, RegistryError)
from .layout import Layout
from .names import check_name, check_tag, parse_reference
from .repositories import Repository
from .uploads import Uploads


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: Digest
    media_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: Digest
    tags: tuple[str, ...]
    subject: Digest | None


class Registry:
    """A registry rooted at one directory (see `Layout` for the tree)."""

    def __init__(self, root: str, durable: bool = True):
        self.layout = Layout(os.path.abspath(root))
        os.makedirs(self.layout.repositories, exist_ok=True)
        self.blobs = BlobStore(self.layout)
        self.uploads = Uploads(self.layout, self.blobs, durable=durable)

    def repository(self, name: str) -> Repository:
        """The repository called `name` (which need not exist yet), or NAME_INVALID."""
        return Repository(self.layout, self.blobs, check_name(name))

    def _existing(self, name: str) -> Repository:
        repo = self.repository(name)
        if not repo.exists():
            raise RegistryError(NAME_UNKNOWN, {"name": name}, f"repository {name} is not known "
                                "to the registry")
        return repo

    # -- blobs -----------------------------------------------------------------

    def stat_blob(self, name: str, digest: Digest) -> int:
        """The size of a blob repository `name` holds, or BLOB_UNKNOWN."""
        size = self.repository(name).blob_size(digest)
        if size is None:
            raise RegistryError(BLOB_UNKNOWN, {"digest": str(digest)},
                                f"blob {digest} is unknown to repository {name}")
        return size

    def open_blob(self, name: str, digest: Digest) -> BinaryIO:
        """A blob repository `name` holds, open for reading, or BLOB_UNKNOWN."""
        try:
            return self.blobs.open(digest)
        except FileNotFoundError:
            raise RegistryError(BLOB_UNKNOWN, {"digest": str(digest)},
                                f"blob {digest} is unknown to repository {name}") from None

    def delete_blob(self, name: str, digest: Digest) -> None:
        """Unlink a blob from a repository; the bytes go at the next gc."""
        if not self.repository(name).unlink_layer(digest):
            raise RegistryError(BLOB_UNKNOWN, {"digest": str(digest)},
                                f"blob {digest} is unknown to repository {name}")

    def mount_blob(self, name: str, digest: Digest, source: str) -> int | None:
        """Link into `name` a blob that repository `source` holds; its size,
        or None when `source` has no such blob (the caller then uploads)."""
        target = self.repository(name)
        size = self.repository(source).blob_size(digest)
        if size is None:
            return None
        target.link_layer(digest)
        return size

    def complete_upload(self, name: str, upload_id: str, digest: Digest) -> int:
        """Verify and store an upload's bytes, linked into `name`; the size."""
        size = self.uploads.commit(name, upload_id, digest)
        self.repository(name).link_layer(digest)
        return size

    # -- manifests ---------------------------------------------------------------

    def put_manifest(self, name: str, reference: str, body: bytes, content_type: str | None,
                     extra_tags: list[str] | tuple[str, ...] = ()) -> PushedManifest:
        """Check and store a manifest under a tag or its digest (plus `extra_tags`)."""
        repo = self.repository(name)
        ref = parse_reference(reference)
        tags = tuple(check_tag(t) for t in ([ref] if isinstance(ref, str) else []) + list(extra_tags))
        if len(body) > mf.MAX_MANIFEST_SIZE:
            raise RegistryError(MANIFEST_INVALID, {"size": len(body)}, "manifest is larger than "
                                f"{mf.MAX_MANIFEST_SIZE} bytes", status=413)
        manifest = mf.parse_manifest(body, content_type)
        digest = Digest.from_bytes(body)
        if isinstance(ref, Digest) and ref != digest:
            raise RegistryError(DIGEST_INVALID, {"digest": str(ref), "actual": str(digest)},
                                f"the manifest's digest is {digest}, not {ref}")
        missing = [d for d in manifest.blobs if repo.blob_size(d) is None]
        missing += [c.digest for c in manifest.children
                    if not repo.has_revision(c.digest) or self.blobs.size(c.digest) is None]
        if missing:
            entries = [(MANIFEST_BLOB_UNKNOWN, {"digest": str(d)}) for d in missing]
            raise RegistryError(MANIFEST_BLOB_UNKNOWN, entries[0][1],
                                f"manifest references {missing[0]}, which repository {name} "
                                "does not hold", more=entries[1:])
        # The bytes first, then the revision, then the tags: a reader never
        # finds a name for something that is not there.
        self.blobs.put_bytes(body)
        repo.add_revision(digest, manifest.media_type)
        if manifest.subject is not None:
            repo.add_referrer(manifest.subject, digest)
        for tag in tags:
            repo.set_tag(tag, digest)
        return PushedManifest(digest, tags, manifest.subject)

    def get_manifest(self, name: str, reference: str, accept: list[str] | None = None) -> StoredManifest:
        """A manifest by tag or digest, as stored, if the client accepts its type.

        A client that takes no index, asking by tag for an index, gets the
        index's linux/amd64 manifest instead, as from the CNCF registry.
        """
        accept = accept or []
        repo = self._existing(name)
        ref = parse_reference(reference)
        stored = self._load(repo, ref, reference)
        if mf.accepts(accept, stored.media_type):
            return stored
        if stored.media_type in mf.INDEXES and isinstance(ref, str):
            child = self._platform_child(repo, stored)
            if child is not None and mf.accepts(accept, child.media_type):
                return child
        raise RegistryError(MANIFEST_UNKNOWN, {"tag" if isinstance(ref, str) else "digest": reference},
                            f"manifest {reference} is a {stored.media_type}, which the request's "
                            "Accept header does not allow")

    def _load(self, repo: Repository, ref: Digest | str, reference: str) -> StoredManifest:
        digest = repo.resolve_tag(ref) if isinstance(ref, str) else ref
        media_type = repo.revision_media_type(digest) if digest is not None else None
        body = self.blobs.read(digest, mf.MAX_MANIFEST_SIZE) if media_type else None
        if digest is None or media_type is None or body is None:
            key = "tag" if isinstance(ref, str) else "digest"
            raise RegistryError(MANIFEST_UNKNOWN, {key: reference},
                                f"manifest {reference} is unknown to repository {repo.name}")
        return StoredManifest(digest, media_type, body)

    def _platform_child(self, repo: Repository, index: StoredManifest) -> StoredManifest | None:
        try:
            parsed = mf.parse_manifest(index.body, index.media_type)
        except RegistryError:
            return None
        for child in parsed.children:
            if child.platform == mf.DEFAULT_PLATFORM:
                try:
                    return self._load(repo, child.digest, str(child.digest))
                except RegistryError:
                    return None
        return None

    def delete_manifest(self, name: str, reference: str) -> None:
        """Remove a tag, or a manifest with every tag that points to it."""
        repo = self._existing(name)
        ref = parse_reference(reference)
        if isinstance(ref, str):
            if not repo.remove_tag(ref):
                raise RegistryError(MANIFEST_UNKNOWN, {"tag": ref}, f"tag {ref} is unknown to "
                                    f"repository {name}")
            return
        stored = self._load(repo, ref, reference)
        for tag in repo.tags_of(ref):
            repo.remove_tag(tag)
        try:
            subject = mf.parse_manifest(stored.body, stored.media_type).subject
        except RegistryError:
            subject = None
        if subject is not None:
            repo.remove_referrer(subject, ref)
        repo.remove_revision(ref)

    def tags(self, name: str) -> list[str]:
        return self._existing(name).tags()

    def referrers(self, name: str, subject: Digest, artifact_type: str | None = None) -> list[dict]:
        """Descriptors of the manifests whose subject is `subject`."""
        repo = self.repository(name)
        out = []
        for digest in repo.referrers(subject):
            try:
                stored = self._load(repo, digest, str(digest))
                manifest = mf.parse_manifest(stored.body, stored.media_type)
            except RegistryError:
                continue  # deleted since, or unreadable: not a referrer any more
            if artifact_type and manifest.artifact_type != artifact_type:
                continue
            out.append(mf.describe(manifest, stored.media_type, digest, len(stored.body)))
        return out

    # -- discovery -----------------------------------------------------------------

    def catalog(self) -> list[str]:
        return self.layout.repository_names()

    def search(self, query: str) -> list[str]:
        """Repositories whose name contains every word of `query` (any case)."""
        words = query.lower().split()
        return [n for n in self.catalog() if all(w in n for w in words)]
