"""Transcripts: the recorded traffic of one or more WebSocket connections, as JSON Lines.

A transcript is what the checker (:mod:`conformance.checker`) consumes and what
``responses-ws validate`` reads. One record per line, in the order observed; the format is
documented in ``docs/transcripts.md``. Reading never raises on bad content: a line that is not
a valid record becomes a :class:`Record` of kind ``"malformed"`` whose ``problem`` says why, so
the checker can report it and go on with the rest.

A text message whose bytes are not valid UTF-8 is still a ``text`` record (``utf8`` false):
its ``text`` holds the bytes decoded with U+FFFD replacement and its ``b64`` the bytes exactly,
so that a recording keeps what crossed and the checker can report it as the sender's fault.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DIRECTIONS",
    "KINDS",
    "Record",
    "dumps_record",
    "parse_line",
    "parse_record",
    "read_jsonl",
    "write_jsonl",
]

KINDS: frozenset[str] = frozenset({"open", "text", "binary", "close", "rejected", "ping", "pong"})
# Records that carry a direction and a base64 payload (b64; optional for ping and pong, whose
# payload may be empty).
_PAYLOAD_KINDS = frozenset({"binary", "ping", "pong"})
DIRECTIONS: frozenset[str] = frozenset({"c2s", "s2c"})

# Keys a record may carry; anything else is kept in ``extra`` so that writing a record back
# loses nothing a harness added.
_KNOWN_KEYS = frozenset(
    {
        "ts",
        "conn",
        "kind",
        "dir",
        "text",
        "b64",
        "code",
        "reason",
        "url",
        "status",
        "headers",
        "note",
        "principal",
        "utf8",
    }
)


@dataclass(frozen=True, slots=True)
class Record:
    """One transcript record.

    ``index`` is the record's position in the transcript (0-based), used by findings to point
    at the records involved. ``kind`` is one of :data:`KINDS`, or ``"malformed"`` when the line
    could not be read (``problem`` says why). A ``text`` record with ``utf8`` false is a text
    message whose bytes are not valid UTF-8: ``text`` holds them decoded with U+FFFD
    replacement, ``data`` the bytes as they were.
    """

    index: int
    kind: str
    conn: str = ""
    ts: float | None = None
    dir: str | None = None
    text: str | None = None
    data: bytes | None = None
    code: int | None = None
    reason: str | None = None
    url: str | None = None
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    note: str | None = None
    # An opaque name of the credential the connection was opened with; the checker compares
    # principals for RWS-LIMIT-5 (a harness may set it instead of recording Authorization).
    principal: str | None = None
    problem: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # False: a text message whose bytes are not valid UTF-8 (docs/transcripts.md).
    utf8: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict in the transcript format (``index`` is implicit)."""
        out: dict[str, Any] = {}
        if self.ts is not None:
            out["ts"] = self.ts
        out["conn"] = self.conn
        out["kind"] = self.kind
        for name in ("dir", "text", "code", "reason", "url", "status", "note", "principal"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if not self.utf8:
            out["utf8"] = False
        if self.data is not None:
            out["b64"] = base64.b64encode(self.data).decode("ascii")
        if self.headers or self.kind in ("open", "rejected"):
            out["headers"] = dict(self.headers)
        if self.problem is not None:
            out["problem"] = self.problem
        out.update(self.extra)
        return out

    @classmethod
    def message(
        cls,
        index: int,
        conn: str,
        direction: str,
        payload: Mapping[str, Any] | str,
        ts: float | None = None,
    ) -> Record:
        """A text record carrying ``payload`` (a dict is serialised as compact JSON)."""
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        return cls(index=index, kind="text", conn=conn, ts=ts, dir=direction, text=text)


def _malformed(index: int, problem: str, conn: str = "") -> Record:
    return Record(index=index, kind="malformed", conn=conn, problem=problem)


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_record(obj: Any, index: int) -> Record:
    """Turn one decoded JSON value into a :class:`Record`; never raises."""
    if not isinstance(obj, dict):
        return _malformed(index, f"a record must be a JSON object, not {type(obj).__name__}")
    conn = obj.get("conn")
    if not isinstance(conn, str) or not conn:
        return _malformed(index, "record has no string 'conn'")
    kind = obj.get("kind")
    if kind not in KINDS:
        return _malformed(index, f"unknown record kind {kind!r}", conn)
    direction = obj.get("dir")
    if kind in ("text", *_PAYLOAD_KINDS) and direction not in DIRECTIONS:
        return _malformed(index, f"{kind} record needs 'dir' c2s or s2c, not {direction!r}", conn)
    if direction is not None and direction not in DIRECTIONS:
        return _malformed(index, f"bad 'dir' {direction!r}", conn)
    ts = obj.get("ts")
    ts_value = float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None
    text = obj.get("text")
    if kind == "text" and not isinstance(text, str):
        return _malformed(index, "text record has no string 'text'", conn)
    data: bytes | None = None
    utf8 = obj.get("utf8", True)
    if kind == "text" and utf8 is not True:
        if utf8 is not False:
            return _malformed(index, f"text record 'utf8' is not true or false: {utf8!r}", conn)
        raw = _not_utf8_bytes(obj.get("b64"))
        if isinstance(raw, str):
            return _malformed(index, raw, conn)
        data = raw
    if kind in _PAYLOAD_KINDS:
        b64 = obj.get("b64", None if kind == "binary" else "")
        if not isinstance(b64, str):
            return _malformed(index, f"{kind} record has no string 'b64'", conn)
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return _malformed(index, f"{kind} record 'b64' is not base64", conn)
    headers_raw = obj.get("headers")
    headers = (
        {str(k).lower(): str(v) for k, v in headers_raw.items()}
        if isinstance(headers_raw, dict)
        else {}
    )
    extra = {k: v for k, v in obj.items() if k not in _KNOWN_KEYS}
    return Record(
        index=index,
        kind=kind,
        conn=conn,
        ts=ts_value,
        dir=direction,
        text=text if isinstance(text, str) else None,
        data=data,
        code=_opt_int(obj.get("code")),
        reason=_opt_str(obj.get("reason")),
        url=_opt_str(obj.get("url")),
        status=_opt_int(obj.get("status")),
        headers=headers,
        note=_opt_str(obj.get("note")),
        principal=_opt_str(obj.get("principal")),
        extra=extra,
        utf8=kind != "text" or utf8 is True,
    )


def _not_utf8_bytes(b64: Any) -> bytes | str:
    """The bytes of a text record with ``utf8`` false, or what is wrong with its ``b64``."""
    if not isinstance(b64, str):
        return "text record with 'utf8' false has no string 'b64' (the message's bytes)"
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return "text record 'b64' is not base64"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    # A recorder that marks valid UTF-8 as invalid would make the checker blame the sender.
    return "text record with 'utf8' false whose 'b64' is valid UTF-8"


def parse_line(line: str | bytes, index: int) -> Record:
    """Parse one line of a transcript; never raises (bad lines become malformed records)."""
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return _malformed(index, f"not a JSON line: {type(exc).__name__}")
    return parse_record(obj, index)


def read_jsonl(path: str | Path) -> Iterator[Record]:
    """Yield the records of a JSON Lines transcript; blank lines are skipped.

    Bad lines become malformed records; only a missing or unreadable file raises ``OSError``.
    """
    index = 0
    with Path(path).open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            yield parse_line(raw, index)
            index += 1


def dumps_record(record: Record) -> str:
    """One transcript line (without the newline)."""
    return json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: str | Path, records: Iterable[Record]) -> None:
    """Write records as a JSON Lines transcript."""
    with Path(path).open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(dumps_record(record))
            handle.write("\n")
