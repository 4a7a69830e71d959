"""What the proxy's I/O tells its judge, and how it travels between processes (sans-I/O).

The I/O side (:mod:`.server`) forwards bytes and reports what it did as :class:`Event` s: a
connection's upgrade and how it was answered (``open``), a copy of the bytes each side sent
(``data``), a side's end of stream (``eof``), the end of a connection (``end``). The judge
(:class:`~conformance.proxy.session.Session`) turns them into records, findings and reports.

The bytes of a read are forwarded first; then the event that copies them is told (:meth:`tell`,
in the order the bytes were read) and passed on to the judge (:meth:`flush`): the order of the
records is the order the proxy read the bytes in, and judging never holds a message up. Both
may share a process (:class:`LocalTap`) or not: the ``responses-ws proxy`` command runs the
judge in a worker process of its own (:mod:`.worker`), so that a second core checks; there the
events travel as bytes (:func:`encode`, :class:`Decoder`): an 18-byte header (kind, direction,
connection, seconds since the session started, payload length) and the payload.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DIRECTIONS",
    "KINDS",
    "Decoder",
    "Event",
    "LocalTap",
    "TapProtocolError",
    "encode",
]

KINDS: tuple[str, ...] = ("open", "data", "eof", "end")
DIRECTIONS: tuple[str, ...] = ("c2s", "s2c")
_HEADER = struct.Struct(">BBIdI")
#: The largest payload an event may carry (the proxy tells at most what one read returned,
#: and an ``open`` event's JSON holds at most a 64 KiB head).
MAX_PAYLOAD = 16 * 1024 * 1024


class TapProtocolError(ValueError):
    """Bytes that are no event stream."""


@dataclass(frozen=True, slots=True)
class Event:
    """One thing the I/O side did. ``info`` (``open`` only): the upgrade, as JSON-ready data:
    ``target``, ``status``, ``headers`` (name, value pairs), ``authorization`` (values),
    ``note`` (why the proxy refused it, or None) and ``extensions`` (what both sides agreed,
    or None)."""

    kind: str
    conn: int
    ts: float
    dir: str = "c2s"
    data: bytes = b""
    info: dict[str, Any] = field(default_factory=dict)


def encode(event: Event) -> bytes:
    """The event as bytes for the worker."""
    payload = json.dumps(event.info).encode("utf-8") if event.kind == "open" else event.data
    header = _HEADER.pack(
        KINDS.index(event.kind), DIRECTIONS.index(event.dir), event.conn, event.ts, len(payload)
    )
    return header + payload


class Decoder:
    """Turns the worker's input back into events, whatever the chunks it arrives in."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Event]:
        """Events completed by ``data``; raises :class:`TapProtocolError` on bad bytes."""
        buffer = self._buffer
        buffer += data
        events: list[Event] = []
        offset = 0
        while len(buffer) - offset >= _HEADER.size:
            kind, direction, conn, ts, size = _HEADER.unpack_from(buffer, offset)
            if kind >= len(KINDS) or direction >= len(DIRECTIONS) or size > MAX_PAYLOAD:
                raise TapProtocolError(f"bad event header at byte {offset}")
            start = offset + _HEADER.size
            if len(buffer) - start < size:
                break
            payload = bytes(buffer[start : start + size])
            offset = start + size
            name = KINDS[kind]
            if name == "open":
                try:
                    info = json.loads(payload)
                except ValueError as exc:
                    raise TapProtocolError(f"bad open event: {exc}") from None
                events.append(Event(name, conn, ts, DIRECTIONS[direction], b"", info))
            else:
                events.append(Event(name, conn, ts, DIRECTIONS[direction], payload))
        del buffer[:offset]
        return events

    @property
    def pending(self) -> int:
        """Bytes of an event not complete yet."""
        return len(self._buffer)


class LocalTap:
    """Hands the events to a judge in this process, in the order told, when flushed."""

    def __init__(self, apply: Callable[[Event], None]) -> None:
        self._apply = apply
        self._told: deque[Event] = deque()

    def tell(self, event: Event) -> None:
        """Note an event, in order."""
        self._told.append(event)

    def flush(self) -> None:
        """Judge what was told (the caller has forwarded its bytes)."""
        told = self._told
        while told:
            self._apply(told.popleft())
