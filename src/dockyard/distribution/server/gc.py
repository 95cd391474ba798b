"""Garbage collection: remove the blobs no manifest references (mark and sweep).

    mark    every manifest revision of every repository is live, and so is
            everything it references: its config and layers, an index's
            child manifests.  With `delete_untagged`, a revision is live only
            if a tag reaches it (directly, through an index, or as the
            referrer of a live manifest); the others are deleted first.
    sweep   every blob in the store that was not marked is deleted, and the
            repositories' links to it with it.

Uploads nobody has written to for a week are removed as well, and files
that writes interrupted by a crash left in tmp/.

A blob pushed for a manifest that has not been pushed yet is unreferenced:
run gc while no push is in progress (or while the registry is served
--read-only), as with the CNCF registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.content.digest import Digest

from .errcodes import RegistryError
from .manifests import MAX_MANIFEST_SIZE, Manifest, parse_manifest
from .registry import Registry
from .repositories import Repository

UPLOAD_MAX_IDLE = 7 * 24 * 3600
TMP_MAX_AGE = 3600  # a write to tmp/ takes a moment; an hour-old file there is debris


@dataclass
class Report:
    removed: list[tuple[Digest, int]] = field(default_factory=list)   # blobs, with sizes
    kept: int = 0
    manifests_removed: list[tuple[str, Digest]] = field(default_factory=list)
    uploads_removed: int = 0

    @property
    def bytes_freed(self) -> int:
        return sum(size for _, size in self.removed)


def collect(registry: Registry, delete_untagged: bool = False, dry_run: bool = False,
            upload_max_idle: float = UPLOAD_MAX_IDLE) -> Report:
    """Run one collection; with `dry_run`, only report what it would remove."""
    report = Report()
    repositories = [registry.repository(n) for n in registry.layout.repository_names(every=True)]
    marked: set[Digest] = set()
    for repo in repositories:
        manifests = _manifests(registry, repo)
        live = _reachable(repo, manifests) if delete_untagged else set(manifests)
        for digest in sorted(set(manifests) - live, key=str):
            report.manifests_removed.append((repo.name, digest))
            if not dry_run:
                _delete_revision(repo, digest, manifests[digest])
        for digest in live:
            marked.add(digest)
            manifest = manifests[digest]
            if manifest is not None:
                marked.update(manifest.blobs)
                marked.update(c.digest for c in manifest.children)
    for digest, size in list(registry.blobs.walk()):
        if digest in marked:
            report.kept += 1
            continue
        report.removed.append((digest, size))
        if not dry_run:
            registry.blobs.delete(digest)
    if not dry_run:
        gone = {d for d, _ in report.removed}
        for repo in repositories:
            for digest in repo.layers():
                if digest in gone:
                    repo.unlink_layer(digest)
        report.uploads_removed = registry.uploads.purge(upload_max_idle)
        registry.blobs.clean_tmp(TMP_MAX_AGE)
    return report


def _manifests(registry: Registry, repo: Repository) -> dict[Digest, Manifest | None]:
    """Every revision of `repo`, parsed (None: unreadable, kept but not followed)."""
    out: dict[Digest, Manifest | None] = {}
    for digest in repo.revisions():
        body = registry.blobs.read(digest, MAX_MANIFEST_SIZE)
        try:
            out[digest] = parse_manifest(body, repo.revision_media_type(digest)) if body else None
        except RegistryError:
            out[digest] = None
    return out


def _reachable(repo: Repository, manifests: dict[Digest, Manifest | None]) -> set[Digest]:
    referrers: dict[Digest, list[Digest]] = {}
    for digest, manifest in manifests.items():
        if manifest is not None and manifest.subject is not None:
            referrers.setdefault(manifest.subject, []).append(digest)
    todo = [d for t in repo.tags() if (d := repo.resolve_tag(t)) is not None and d in manifests]
    live: set[Digest] = set()
    while todo:
        digest = todo.pop()
        if digest in live:
            continue
        live.add(digest)
        manifest = manifests.get(digest)
        if manifest is not None:
            todo += [c.digest for c in manifest.children if c.digest in manifests]
        todo += referrers.get(digest, [])
    return live


def _delete_revision(repo: Repository, digest: Digest, manifest: Manifest | None) -> None:
    if manifest is not None and manifest.subject is not None:
        repo.remove_referrer(manifest.subject, digest)
    repo.remove_revision(digest)
