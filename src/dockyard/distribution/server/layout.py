"""Every path under a registry's root, computed in one place (see `Layout`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dockyard.content.digest import Digest


@dataclass(frozen=True, slots=True)
class Layout:
    """The registry's on-disk tree; nothing else joins paths under the root.

        <root>/
        ├── blobs/
        │   └── sha256/<hex[:2]>/<hex>        the bytes of every blob and manifest, stored
        │                                     once whichever repositories hold it; a file
        │                                     appears here only by rename, after its bytes
        │                                     were checked against <hex>, and never changes
        ├── repositories/
        │   └── <name>/                       <name> may span directories: library/busybox
        │       ├── _layers/
        │       │   └── sha256/<hex>          empty: the blob belongs to the repository
        │       ├── _manifests/
        │       │   ├── revisions/
        │       │   │   └── sha256/<hex>      the manifest belongs to the repository; the
        │       │   │                         file holds its media type
        │       │   ├── tags/<tag>            holds the digest the tag points to
        │       │   └── referrers/
        │       │       └── sha256/<subject-hex>/
        │       │           └── sha256/<hex>  empty: manifest <hex> names <subject> as subject
        │       └── _uploads/
        │           └── <id>/
        │               ├── data              the bytes received so far (renamed into
        │               │                     blobs/ when the upload completes and verifies)
        │               └── startedat         when the upload began (RFC 3339)
        └── tmp/                              manifests and small files being written,
                                              renamed into place when whole

    A repository is a set of links into the one blob store, as in the CNCF
    registry: pushing a layer another repository already has stores nothing
    new, and a client sees a blob only through a repository that links it.
    Links and tags are written to ``tmp/`` and renamed, so a reader sees the
    old value or the new one, never half a file.  Everything sits on one
    filesystem, which is what makes those renames atomic.
    """

    root: str

    # -- the blob store ----------------------------------------------------

    @property
    def blobs(self) -> str:
        return os.path.join(self.root, "blobs")

    def blob(self, digest: Digest) -> str:
        return os.path.join(self.blobs, digest.algorithm, digest.hex[:2], digest.hex)

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    # -- repositories ------------------------------------------------------

    @property
    def repositories(self) -> str:
        return os.path.join(self.root, "repositories")

    def repository(self, name: str) -> str:
        return os.path.join(self.repositories, name)

    def layers(self, name: str) -> str:
        return os.path.join(self.repository(name), "_layers")

    def layer_link(self, name: str, digest: Digest) -> str:
        return os.path.join(self.layers(name), digest.algorithm, digest.hex)

    def manifests(self, name: str) -> str:
        return os.path.join(self.repository(name), "_manifests")

    def revisions(self, name: str) -> str:
        return os.path.join(self.manifests(name), "revisions")

    def revision_link(self, name: str, digest: Digest) -> str:
        return os.path.join(self.revisions(name), digest.algorithm, digest.hex)

    def tags(self, name: str) -> str:
        return os.path.join(self.manifests(name), "tags")

    def tag(self, name: str, tag: str) -> str:
        return os.path.join(self.tags(name), tag)

    def referrers(self, name: str, subject: Digest) -> str:
        return os.path.join(self.manifests(name), "referrers", subject.algorithm, subject.hex)

    def referrer_link(self, name: str, subject: Digest, digest: Digest) -> str:
        return os.path.join(self.referrers(name, subject), digest.algorithm, digest.hex)

    # -- uploads -----------------------------------------------------------

    def uploads(self, name: str) -> str:
        return os.path.join(self.repository(name), "_uploads")

    def upload(self, name: str, upload_id: str) -> str:
        return os.path.join(self.uploads(name), upload_id)

    def upload_data(self, name: str, upload_id: str) -> str:
        return os.path.join(self.upload(name, upload_id), "data")

    def upload_started_at(self, name: str, upload_id: str) -> str:
        return os.path.join(self.upload(name, upload_id), "startedat")

    # -- walking -----------------------------------------------------------

    def repository_names(self, every: bool = False) -> list[str]:
        """The repositories that hold manifests, sorted as the catalog lists
        them; with `every`, also those that hold only blobs or uploads."""
        markers = {"_manifests", "_layers", "_uploads"} if every else {"_manifests"}
        names = []
        top = self.repositories
        for dirpath, dirnames, _files in os.walk(top):
            if markers.intersection(dirnames):
                names.append(os.path.relpath(dirpath, top))
            # A repository's own directories hold no repositories; nested
            # names (library/busybox) live beside them.
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("_"))
        return sorted(names)
