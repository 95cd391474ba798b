"""The build cache: which image a build step produced, by what the step was.

A step's *key* is the sha256 of a canonical JSON document naming everything
the step's result depends on (:func:`step_key`): the parent image, the
instruction after variable expansion, the build args and environment it
sees, the user, working directory and shell, and for COPY/ADD the digest of
the content and metadata of the files it copies.  Change any of these and
the key changes; change nothing and the key finds the image built last time.

Records live in the daemon's SQLite database, so the cache survives a
restart.  A record points at an image in the image store (the classic
builder's intermediate images); a record whose image has gone since (an
``rmi`` took it) is a miss and is dropped when met.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from dockyard.metadata.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS build_cache (
    key         TEXT PRIMARY KEY,      -- sha256 hex of the step's canonical description
    image_id    TEXT NOT NULL,         -- the image the step produced
    parent      TEXT NOT NULL,         -- the image it was built on ('' for scratch)
    description TEXT NOT NULL,         -- created_by, for builder du / system df
    created     REAL NOT NULL,
    last_used   REAL NOT NULL,
    usage_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image_id);
"""


def step_key(**parts: Any) -> str:
    """The cache key of a step described by ``parts`` (JSON-ready values)."""
    doc = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(doc.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheRecord:
    key: str
    image_id: str
    parent: str
    description: str
    created: float
    last_used: float
    usage_count: int


class BuildCache:
    """Step key → image id, with usage bookkeeping for ``system df``."""

    def __init__(self, db: Database, image_exists: Callable[[str], bool]):
        self.db = db
        self._image_exists = image_exists
        db.ensure_schema(SCHEMA)

    def lookup(self, key: str) -> str | None:
        """The image a step with this key built, if it still exists."""
        row = self.db.query_one("SELECT image_id FROM build_cache WHERE key = ?", (key,))
        if row is None:
            return None
        if not self._image_exists(row["image_id"]):
            self.db.execute("DELETE FROM build_cache WHERE key = ?", (key,))
            return None
        self.db.execute("UPDATE build_cache SET last_used = ?, usage_count = usage_count + 1 WHERE key = ?",
                        (time.time(), key))
        return row["image_id"]

    def store(self, key: str, image_id: str, parent: str, description: str) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO build_cache (key, image_id, parent, description, created, last_used)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id,"
            " parent = excluded.parent, description = excluded.description, last_used = excluded.last_used",
            (key, image_id, parent, description, now, now))

    def records(self) -> list[CacheRecord]:
        rows = self.db.query("SELECT * FROM build_cache ORDER BY created")
        return [CacheRecord(r["key"], r["image_id"], r["parent"], r["description"], r["created"],
                            r["last_used"], r["usage_count"]) for r in rows]

    def forget(self, keys: list[str]) -> None:
        with self.db.transaction() as cur:
            cur.executemany("DELETE FROM build_cache WHERE key = ?", [(k,) for k in keys])

    def image_ids(self) -> set[str]:
        return {r["image_id"] for r in self.db.query("SELECT DISTINCT image_id FROM build_cache")}
