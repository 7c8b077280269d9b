"""Where the knowledge base lives and how readers open it.

Readers open ``trials.db`` read-only, and reopen it when the builder has
replaced the file (a rebuild swaps in a new file with ``os.replace``; an open
connection keeps reading the old, complete one until it is reopened). So a
long-running action server never sees half a database and picks up a rebuild
on its next query.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

KNOWLEDGE_DIR = Path(__file__).parent
DB_PATH = Path(os.environ.get("TRIALBOT_KB", KNOWLEDGE_DIR / "trials.db"))
TRIALS_DIR = KNOWLEDGE_DIR / "trials"
IMPORTED_DIR = KNOWLEDGE_DIR / "imported"

# Bump when the tables change shape; readers refuse a database of another version.
SCHEMA_VERSION = 3


class KnowledgeBaseError(RuntimeError):
    """The knowledge base is missing, unreadable or of another schema version."""


def connect(path: str | Path | None = None) -> sqlite3.Connection:
    """A new read-only connection, checked for the expected schema version."""
    path = Path(path or DB_PATH)
    if not path.exists():
        raise KnowledgeBaseError(f"{path} does not exist: build it with `make kb` or `python -m knowledge build`")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        conn.close()
        raise KnowledgeBaseError(
            f"{path} has schema version {version}, this code needs {SCHEMA_VERSION}: rebuild with `make kb`"
        )
    return conn


class Reader:
    """A cached read-only connection that follows rebuilds of the file.

    Each call to ``conn()`` costs one ``os.stat``; when the file's inode or
    modification time changed, a new connection is opened.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path or DB_PATH)
        self._conn: sqlite3.Connection | None = None
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def conn(self) -> sqlite3.Connection:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise KnowledgeBaseError(f"{self.path} does not exist: build it with `make kb`") from None
        stamp = (st.st_ino, st.st_mtime_ns)
        with self._lock:
            if self._conn is None or stamp != self._stamp:
                # Not closed: a query in flight elsewhere may still hold it; the old
                # file's connection is closed when its last user lets go of it.
                self._conn = connect(self.path)
                self._stamp = stamp
            return self._conn


_readers: dict[Path, Reader] = {}
_named: dict[str | Path, Reader] = {}  # as callers name the file: resolved once, not on every query


def reader(path: str | Path | None = None) -> sqlite3.Connection:
    """The shared read-only connection for ``path`` (default: knowledge/trials.db)."""
    name = path or DB_PATH
    found = _named.get(name)
    if found is None:
        key = Path(name).resolve()
        found = _readers.setdefault(key, Reader(key))
        if Path(name).is_absolute():  # a relative name depends on the working directory
            _named[name] = found
    return found.conn()
