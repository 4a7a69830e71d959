"""Durable storage of ``store=true`` responses in an embedded SQLite database.

A stored response keeps what hydration needs (RWS-CACHE-3): its context and output, so that
a continuation served from storage has exactly the context of a cache hit, plus the terminal
response object. Rows are filed under a hash of the API key that created them; a lookup
with another key finds nothing (RWS-LIMIT-5), and the keys themselves are never written.

The database runs in WAL mode with ``synchronous=FULL``: :meth:`ResponseStore.save` returns
only once the row is on disk, so a response whose terminal event was sent survives a restart
and a ``kill -9`` (RWS-CACHE-11). Methods are blocking and thread-safe; the server calls them
from worker threads. On disk every worker thread has a connection of its own and no Python lock
is held while SQLite waits for a lock another process holds (at most :data:`BUSY_TIMEOUT_S`):
a database that stays locked makes that one call raise :class:`sqlite3.Error`, which the server
turns into the failure of that one run, never a stall of the others. Every response holds
every context of its conversation, so the data directory is created ``0700`` and the database
files ``0600``: readable by the server's user only.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BUSY_TIMEOUT_S",
    "DATABASE_NAME",
    "NoStorage",
    "ResponseStore",
    "StoredResponse",
    "key_digest",
]

#: The file name of the database inside the server's data directory.
DATABASE_NAME = "responses.sqlite3"
#: How long one call waits for a lock another connection or process holds on the database.
BUSY_TIMEOUT_S = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    key_digest TEXT NOT NULL,
    context TEXT NOT NULL,
    output TEXT NOT NULL,
    response TEXT NOT NULL
) WITHOUT ROWID
"""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One persisted response."""

    response_id: str
    context: Sequence[Mapping[str, Any]]
    output: Sequence[Mapping[str, Any]]
    response: Mapping[str, Any]


def key_digest(api_key: str) -> str:
    """Return the digest under which rows of ``api_key`` are filed."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ResponseStore:
    """The response database of one server; ``data_dir=None`` keeps it in memory."""

    def __init__(self, data_dir: Path | None, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self._busy_timeout = busy_timeout
        self._path: str | None = None
        if data_dir is not None:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(data_dir, 0o700)  # an existing directory too: it holds every context
            path = data_dir / DATABASE_NAME
            # SQLite creates the -wal and -shm files with the database file's permissions.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(path, 0o600)
            self._path = str(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()  # the list of connections, not the database
        # In memory there is one database per connection: one shared connection and a lock
        # (nothing else can hold a lock on it, so no call ever waits for SQLite).
        self._memory = (
            None
            if self._path is not None
            else sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        )
        self._memory_lock = threading.Lock()
        with self._connection() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _open(self) -> sqlite3.Connection:
        assert self._path is not None
        db = sqlite3.connect(
            self._path, timeout=self._busy_timeout, check_same_thread=False, isolation_level=None
        )
        # FULL: the commit is on disk when save() returns, even across power loss.
        db.execute("PRAGMA synchronous=FULL")
        with self._guard:
            self._connections.append(db)
        return db

    def _connection(self) -> _Use:
        """The calling thread's connection (in memory: the shared one, under its lock)."""
        if self._memory is not None:
            return _Use(self._memory, self._memory_lock)
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._open()
        return _Use(db, None)

    def save(self, record: StoredResponse, api_key: str) -> None:
        """Persist ``record`` for ``api_key``; returns once it is durable."""
        row = (
            record.response_id,
            key_digest(api_key),
            _dumps(list(record.context)),
            _dumps(list(record.output)),
            _dumps(record.response),
        )
        with self._connection() as db:
            db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)", row)

    def load(self, response_id: str, api_key: str | None) -> StoredResponse | None:
        """Return the response ``response_id`` stored by ``api_key`` (any key when None)."""
        query = "SELECT key_digest, context, output, response FROM responses WHERE id = ?"
        with self._connection() as db:
            found = db.execute(query, (response_id,)).fetchone()
        if found is None:
            return None
        digest, context, output, response = found
        # RWS-LIMIT-5: a row of another API key is not there for this one.
        if api_key is not None and digest != key_digest(api_key):
            return None
        return StoredResponse(
            response_id, json.loads(context), json.loads(output), json.loads(response)
        )

    def delete(self, response_id: str) -> None:
        """Remove a response, e.g. one whose run was cut off before its terminal event."""
        with self._connection() as db:
            db.execute("DELETE FROM responses WHERE id = ?", (response_id,))

    def __len__(self) -> int:
        with self._connection() as db:
            (count,) = db.execute("SELECT count(*) FROM responses").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the database (every thread's connection)."""
        if self._memory is not None:
            with self._memory_lock:
                self._memory.close()
            return
        with self._guard:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()


class _Use:
    """``with store._connection() as db``: the connection, under its lock when it has one."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock | None) -> None:
        self.db = db
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        if self.lock is not None:
            self.lock.acquire()
        return self.db

    def __exit__(self, *exc: object) -> None:
        if self.lock is not None:
            self.lock.release()


class NoStorage(ResponseStore):
    """The store of a server that declares ``storage=none`` (D24): it keeps nothing.

    Every save is dropped and every lookup misses, so a continuation of a response that is no
    longer cached on its connection is answered ``previous_response_not_found``
    (RWS-CACHE-4), whatever its ``store`` said.
    """

    def __init__(self) -> None:
        super().__init__(None)

    def save(self, record: StoredResponse, api_key: str) -> None:
        """Keep nothing."""

    def load(self, response_id: str, api_key: str | None) -> StoredResponse | None:
        """Find nothing."""
        return None
