"""One transcript file per proxied connection, in the ``responses-ws validate`` format.

Each connection's records go to ``<folder>/<conn>.jsonl`` as they are judged, one JSON object
per line (docs/transcripts.md), so that ``responses-ws validate`` can judge any one of them
again. A file stops growing at ``limit`` bytes: the records after that are still judged live
but not written, and the connection's last record (its close) is written anyway with a
``note`` that says how many were left out.

The writer remembers where each record it wrote begins (eight bytes per record, for the
record's index in the session and its offset), so that a report can quote the records a
finding names by reading them back (:meth:`Transcripts.read`) instead of keeping them all.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["DEFAULT_LIMIT", "Transcript", "Transcripts"]

#: The default size limit of one connection's transcript file.
DEFAULT_LIMIT = 256 * 1024 * 1024


class Transcript:
    """The transcript file of one connection."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self._file: IO[bytes] | None = path.open("wb")
        self.size = 0
        self.written = 0
        self.left_out = 0
        # For each record written: its index in the session and where its line starts.
        self._indexes = array("q")
        self._offsets = array("q")

    def write(self, index: int, record: Mapping[str, Any], *, last: bool = False) -> int | None:
        """Append a record (``last``: the connection's final record, written past the limit);
        return its line number (1-based), or None when it was left out."""
        handle = self._file
        if handle is None:
            return None
        if self.left_out and last:
            record = {**record, "note": f"{self.left_out} records not written: the transcript "
                      f"reached its limit of {self.limit} bytes"}  # fmt: skip
        line = orjson.dumps(record) + b"\n"
        if self.size + len(line) > self.limit and not last:
            self.left_out += 1
            return None
        handle.write(line)
        self._indexes.append(index)
        self._offsets.append(self.size)
        self.size += len(line)
        self.written += 1
        return self.written

    def line_of(self, index: int) -> int | None:
        """The line number of the record with this session index (None: not written here)."""
        position = bisect.bisect_left(self._indexes, index)
        if position < len(self._indexes) and self._indexes[position] == index:
            return position + 1
        return None

    def read(self, index: int) -> dict[str, Any] | None:
        """The record with this session index, read back (None: not written here)."""
        line = self.line_of(index)
        if line is None:
            return None
        if self._file is not None:
            self._file.flush()
        with self.path.open("rb") as handle:
            handle.seek(self._offsets[line - 1])
            value = orjson.loads(handle.readline())
        return value if isinstance(value, dict) else None

    def close(self) -> None:
        """Flush and close the file (it can still be read back)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class Transcripts:
    """The transcript files of a session, one per connection, in one folder."""

    def __init__(self, folder: Path, limit: int = DEFAULT_LIMIT) -> None:
        self.folder = folder
        self.limit = limit
        folder.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, Transcript] = {}

    def open(self, conn: str) -> Transcript:
        """The transcript of a new connection."""
        transcript = Transcript(self.folder / f"{conn}.jsonl", self.limit)
        self._files[conn] = transcript
        return transcript

    def get(self, conn: str) -> Transcript | None:
        """The transcript of ``conn`` (None: no such connection)."""
        return self._files.get(conn)

    def where(self, index: int, conns: Iterable[str | None] = ()) -> tuple[str, int] | None:
        """The connection and line of the record with this session index (looked for in
        ``conns`` first, then everywhere)."""
        for conn in (*(c for c in conns if c is not None), *self._files):
            transcript = self._files.get(conn)
            line = transcript.line_of(index) if transcript is not None else None
            if line is not None:
                return conn, line
        return None

    def read(self, index: int, conns: Iterable[str | None] = ()) -> dict[str, Any] | None:
        """The record with this session index, read back from its file (None: not written)."""
        found = self.where(index, conns)
        if found is None:
            return None
        transcript = self._files[found[0]]
        return transcript.read(index)

    def files(self) -> list[Transcript]:
        """Every transcript of the session, in the order the connections opened."""
        return list(self._files.values())

    def close(self) -> None:
        """Close every file."""
        for transcript in self._files.values():
            transcript.close()
