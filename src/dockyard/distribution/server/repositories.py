"""A repository: links into the blob store, manifest revisions, tags, referrers.

Vocabulary (the CNCF registry's): a *layer link* says a blob belongs to the
repository, whatever it is (a layer, a config); a *revision* says a manifest
does; a *tag* names one revision; a *referrer* is a revision whose
``subject`` names another manifest.  A `Repository` only reads and writes
these links; checking what a manifest references is `Registry`'s job.
"""

from __future__ import annotations

import os

from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument

from .blobs import BlobStore, write_atomically
from .layout import Layout


def _touch(path: str) -> None:
    # An empty file is whole the moment it exists: no rename needed.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def _remove(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def _digests_in(path: str) -> list[Digest]:
    """The digests named by `<algorithm>/<hex>` entries under `path`."""
    out = []
    try:
        algorithms = os.listdir(path)
    except FileNotFoundError:
        return []
    for algorithm in sorted(algorithms):
        try:
            names = os.listdir(os.path.join(path, algorithm))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in sorted(names):
            try:
                out.append(Digest(algorithm, name))
            except InvalidArgument:
                continue  # a stray file is not a link
    return out


class Repository:
    """The links of one repository; `name` has been checked by the caller."""

    def __init__(self, layout: Layout, blobs: BlobStore, name: str):
        self._layout = layout
        self._blobs = blobs
        self.name = name

    def exists(self) -> bool:
        return os.path.isdir(self._layout.repository(self.name))

    # -- blobs -------------------------------------------------------------

    def has_layer(self, digest: Digest) -> bool:
        return os.path.exists(self._layout.layer_link(self.name, digest))

    def link_layer(self, digest: Digest) -> None:
        _touch(self._layout.layer_link(self.name, digest))

    def unlink_layer(self, digest: Digest) -> bool:
        return _remove(self._layout.layer_link(self.name, digest))

    def layers(self) -> list[Digest]:
        return _digests_in(self._layout.layers(self.name))

    def blob_size(self, digest: Digest) -> int | None:
        """The size of a blob the repository holds (a layer, a config, or a
        manifest fetched as a blob); None when it holds no such blob."""
        if not (self.has_layer(digest) or self.has_revision(digest)):
            return None
        return self._blobs.size(digest)

    # -- manifests ---------------------------------------------------------

    def has_revision(self, digest: Digest) -> bool:
        return os.path.exists(self._layout.revision_link(self.name, digest))

    def revision_media_type(self, digest: Digest) -> str | None:
        """The media type the manifest was pushed with; None if not here."""
        return _read_text(self._layout.revision_link(self.name, digest))

    def add_revision(self, digest: Digest, media_type: str) -> None:
        path = self._layout.revision_link(self.name, digest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(self._layout, path, media_type.encode())

    def remove_revision(self, digest: Digest) -> bool:
        return _remove(self._layout.revision_link(self.name, digest))

    def revisions(self) -> list[Digest]:
        return _digests_in(self._layout.revisions(self.name))

    # -- tags --------------------------------------------------------------

    def resolve_tag(self, tag: str) -> Digest | None:
        text = _read_text(self._layout.tag(self.name, tag))
        if text is None:
            return None
        try:
            return Digest.parse(text)
        except InvalidArgument:
            return None

    def set_tag(self, tag: str, digest: Digest) -> None:
        path = self._layout.tag(self.name, tag)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(self._layout, path, str(digest).encode())

    def remove_tag(self, tag: str) -> bool:
        return _remove(self._layout.tag(self.name, tag))

    def tags(self) -> list[str]:
        """Every tag, in ASCII order as the spec asks."""
        try:
            return sorted(os.listdir(self._layout.tags(self.name)))
        except FileNotFoundError:
            return []

    def tags_of(self, digest: Digest) -> list[str]:
        return [t for t in self.tags() if self.resolve_tag(t) == digest]

    # -- referrers ---------------------------------------------------------

    def add_referrer(self, subject: Digest, digest: Digest) -> None:
        _touch(self._layout.referrer_link(self.name, subject, digest))

    def remove_referrer(self, subject: Digest, digest: Digest) -> None:
        _remove(self._layout.referrer_link(self.name, subject, digest))

    def referrers(self, subject: Digest) -> list[Digest]:
        return _digests_in(self._layout.referrers(self.name, subject))
