"""The SQLite database under the data root that holds every record.

One file (paths.DataRoot.metadata_db) in WAL mode.  Each part that keeps
records (images, containers, …) owns its tables and declares them with
`Database.ensure_schema`, idempotent DDL run once at wiring time.

A write is a transaction: `with db.transaction() as cur: …` commits on success
and rolls back on error, so a killed daemon leaves either the old or the new
state, never half of one.  WAL with synchronous=NORMAL is durable against a
killed process (what we promise); a power cut may lose the last transactions
but never corrupts the file.

The connection is shared by the daemon's event loop and its worker threads,
so every use goes through the lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Any, Iterator


class Database:
    def __init__(self, path: str):
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")

    def ensure_schema(self, ddl: str) -> None:
        """Run idempotent DDL (CREATE TABLE IF NOT EXISTS …)."""
        with self._lock:
            self._conn.executescript(ddl)

    def ensure_columns(self, table: str, columns: dict[str, str]) -> None:
        """Add columns a newer dockyard needs to a table an older one made.

        `columns` maps a name to its definition (``"TEXT NOT NULL DEFAULT '[]'"``);
        data roots are upgraded in place, never rebuilt.
        """
        with self._lock:
            have = {row["name"] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            for name, definition in columns.items():
                if name not in have:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def execute(self, sql: str, params: tuple | dict = ()) -> Any:
        """A single-statement write, committed at once."""
        with self._lock:
            return self._conn.execute(sql, params)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
