"""Where each blob is known to live: the repositories we pulled it from or
pushed it to, per registry.

A push asks the registry to *mount* a blob it already holds under another
repository instead of uploading it again (cross-repository mount); to know
which repository to name as the source, it remembers every (blob, registry,
repository) it has seen, as docker's v2 metadata service does.  A candidate
is only a hint: a registry that refuses the mount (the blob was deleted, or
we may not read that repository) costs one request, then the upload goes on.
"""

from __future__ import annotations

import time

from dockyard.metadata.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS distribution_blob_sources (
    digest     TEXT NOT NULL,               -- sha256:<hex> of the blob
    registry   TEXT NOT NULL,               -- reference domain: localhost:5000, docker.io
    repository TEXT NOT NULL,               -- path in that registry: acc/bb
    seen       REAL NOT NULL,               -- unix seconds, last pull or push
    PRIMARY KEY (digest, registry, repository)
);
"""

# docker tries at most three repositories before uploading.
MAX_MOUNT_CANDIDATES = 3


class BlobSources:
    def __init__(self, db: Database):
        self._db = db
        db.ensure_schema(SCHEMA)

    def add(self, digest: str, registry: str, repository: str) -> None:
        self._db.execute(
            "INSERT INTO distribution_blob_sources (digest, registry, repository, seen) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(digest, registry, repository) DO UPDATE SET seen = excluded.seen",
            (str(digest), registry, repository, time.time()),
        )

    def candidates(self, digest: str, registry: str, exclude: str = "") -> list[str]:
        """Repositories of `registry` known to hold the blob, most recent first."""
        rows = self._db.query(
            "SELECT repository FROM distribution_blob_sources WHERE digest = ? AND registry = ? AND repository != ?"
            " ORDER BY seen DESC LIMIT ?",
            (str(digest), registry, exclude, MAX_MOUNT_CANDIDATES),
        )
        return [r["repository"] for r in rows]

    def forget(self, digest: str, registry: str, repository: str) -> None:
        self._db.execute(
            "DELETE FROM distribution_blob_sources WHERE digest = ? AND registry = ? AND repository = ?",
            (str(digest), registry, repository),
        )


__all__ = ["BlobSources"]
