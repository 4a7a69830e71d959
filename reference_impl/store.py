"""Durable storage of ``store=true`` responses in an embedded SQLite database.

A stored response keeps what hydration needs (RWS-CACHE-3): its context and output, so that
a continuation served from storage has exactly the context of a cache hit, plus the terminal
response object. Rows are filed under a hash of the API key that created them; a lookup
with another key finds nothing (RWS-LIMIT-5), and the keys themselves are never written.

The database runs in WAL mode with ``synchronous=FULL``: :meth:`ResponseStore.save` returns
only once the row is on disk, so a response whose terminal event was sent survives a restart
and a ``kill -9`` (RWS-CACHE-11). Methods are blocking and thread-safe; the server calls them
from worker threads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DATABASE_NAME", "NoStorage", "ResponseStore", "StoredResponse", "key_digest"]

#: The file name of the database inside the server's data directory.
DATABASE_NAME = "responses.sqlite3"

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

    def __init__(self, data_dir: Path | None) -> None:
        if data_dir is None:
            target = ":memory:"
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            target = str(data_dir / DATABASE_NAME)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: the commit is on disk when save() returns, even across power loss.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)

    def save(self, record: StoredResponse, api_key: str) -> None:
        """Persist ``record`` for ``api_key``; returns once it is durable."""
        row = (
            record.response_id,
            key_digest(api_key),
            _dumps(list(record.context)),
            _dumps(list(record.output)),
            _dumps(record.response),
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)", row)

    def load(self, response_id: str, api_key: str | None) -> StoredResponse | None:
        """Return the response ``response_id`` stored by ``api_key`` (any key when None)."""
        query = "SELECT key_digest, context, output, response FROM responses WHERE id = ?"
        with self._lock:
            found = self._db.execute(query, (response_id,)).fetchone()
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
        with self._lock:
            self._db.execute("DELETE FROM responses WHERE id = ?", (response_id,))

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM responses").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


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
