"""A small synchronous WebSocket client that records every message in the transcript format.

Hypothesis calls its test functions synchronously, so the fuzzer drives the server with the
blocking client of ``websockets`` (``websockets.sync.client``) rather than bridging into trio
for every example: one example is a few blocking calls on a fresh connection. Everything sent
and received is appended to a :class:`Tape` as transcript records (docs/development.md,
"Transcripts"), which the checker reads and which a failing example is written out as.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

__all__ = [
    "Closed",
    "Frame",
    "Received",
    "Tape",
    "Target",
    "Unreachable",
    "WireClient",
]


@dataclass(frozen=True)
class Target:
    """The server under test and how to talk to it."""

    url: str  # the full ws://.../v1/responses URL
    api_key: str | None
    model: str
    profiles: frozenset[str]
    # "must happen within" wait for one answer, in seconds
    timeout: float = 5.0
    # the declared busy-lane policy (RWS-LANE-2): queue or reject
    busy_lane: str = "queue"
    # a second API key the server accepts, for RWS-LIMIT-5 (stateful fuzzer)
    api_key2: str | None = None
    # the server rate-limits this key, so rate_limit_exceeded may answer any request
    rate_limited: bool = False
    # the cap on every answer of a model other than conformance-1 (16: the smallest value
    # OpenAI accepts), to keep runs short; a run that reaches it ends incomplete, which is
    # continuable like a completed one (RWS-CACHE-1, D6)
    max_output_tokens: int = 16
    # the declared storage parameter (D24): "none" hydrates nothing
    storage: str = "durable"


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket message to send.

    ``kind`` is ``"text"`` (``payload`` is the UTF-8 bytes of the text, or any bytes: a text
    frame need not hold valid UTF-8 when it is a mutation) or ``"binary"``.
    """

    kind: str
    payload: bytes

    @classmethod
    def text(cls, text: str) -> Frame:
        """A text frame holding ``text``; lone surrogates are kept as CESU-style bytes."""
        return cls("text", text.encode("utf-8", "surrogatepass"))

    @classmethod
    def json(cls, value: Any) -> Frame:
        """A text frame holding ``value`` as compact JSON."""
        return cls.text(json.dumps(value, separators=(",", ":")))

    def __repr__(self) -> str:
        shown = self.payload if len(self.payload) <= 300 else self.payload[:300] + b"..."
        return f"Frame({self.kind!r}, {len(self.payload)} bytes: {shown!r})"

    def valid_utf8(self) -> bool:
        """Whether the payload is valid UTF-8 (always true of what a conforming client sends)."""
        try:
            self.payload.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True


class Unreachable(Exception):
    """The server could not be connected to, or refused the upgrade."""


class Closed(Exception):
    """The connection closed while an answer was awaited."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed (code {code}) {reason}".strip())
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Received:
    """One server message: the parsed event (None when it is not a JSON object)."""

    index: int  # its position in the tape
    event: dict[str, Any] | None


@dataclass
class Tape:
    """The transcript records of one example or session, timestamped from its start."""

    records: list[dict[str, Any]] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    connections: int = 0

    def new_conn(self) -> str:
        """The next connection name: ``c1``, ``c2``, ..."""
        self.connections += 1
        return f"c{self.connections}"

    def add(self, conn: str, kind: str, **fields: Any) -> int:
        """Append one record; return its index."""
        record: dict[str, Any] = {
            "ts": round(time.monotonic() - self.t0, 6),
            "conn": conn,
            "kind": kind,
        }
        record.update({k: v for k, v in fields.items() if v is not None})
        self.records.append(record)
        return len(self.records) - 1

    def lines(self) -> list[str]:
        """The records as JSON Lines (without newlines)."""
        return [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in self.records]


def _fingerprint(api_key: str | None) -> str | None:
    # RWS-LIMIT-5: the checker compares principals; only a fingerprint of the key is recorded.
    if api_key is None:
        return None
    return "key-sha256:" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


class WireClient:
    """One recorded WebSocket connection to the target."""

    def __init__(self, target: Target, tape: Tape, *, second_key: bool = False) -> None:
        self.target = target
        self.tape = tape
        self.conn = tape.new_conn()
        self.close_code: int | None = None
        self.closed = False
        api_key = target.api_key2 if second_key else target.api_key
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            self.ws: ClientConnection = connect(
                target.url,
                additional_headers=headers,
                compression=None,
                proxy=None,
                open_timeout=target.timeout,
                ping_interval=None,
                close_timeout=target.timeout,
                max_size=64 * 1024 * 1024,
                max_queue=None,
                user_agent_header="responses-ws-fuzz",
                # connect directly (no context manager): the connection outlives this call
                legacy=True,
            )
        except InvalidStatus as exc:
            tape.add(self.conn, "rejected", url=target.url, status=exc.response.status_code)
            raise Unreachable(f"upgrade refused with {exc.response.status_code}") from exc
        except (OSError, TimeoutError) as exc:
            tape.add(self.conn, "rejected", url=target.url, note=f"could not connect: {exc}")
            raise Unreachable(f"could not connect: {exc}") from exc
        response = self.ws.response
        tape.add(
            self.conn,
            "open",
            url=target.url,
            status=response.status_code if response is not None else 101,
            headers=dict(response.headers.raw_items()) if response is not None else {},
            principal=_fingerprint(api_key),
        )

    # --- sending ---------------------------------------------------------------------------

    def send(self, frame: Frame, note: str | None = None) -> None:
        """Send one frame and record it. A closed connection raises :class:`Closed`."""
        if frame.kind == "binary":
            self.tape.add(
                self.conn,
                "binary",
                dir="c2s",
                b64=base64.b64encode(frame.payload).decode("ascii"),
                note=note,
            )
        elif frame.valid_utf8():
            self.tape.add(self.conn, "text", dir="c2s", text=frame.payload.decode(), note=note)
        else:
            # A text frame that is not UTF-8 (docs/transcripts.md): its text with U+FFFD
            # replacement, its bytes in base64; the checker expects the server's close 1007.
            self.tape.add(
                self.conn,
                "text",
                dir="c2s",
                text=frame.payload.decode("utf-8", "replace"),
                utf8=False,
                b64=base64.b64encode(frame.payload).decode("ascii"),
                note=note,
            )
        try:
            # text=True sends the bytes in a text frame as they are, valid UTF-8 or not.
            self.ws.send(frame.payload, text=frame.kind == "text")
        except ConnectionClosed as exc:
            self._closed(exc)
            raise Closed(self.close_code, "while sending") from exc

    def send_event(self, event: Mapping[str, Any], note: str | None = None) -> None:
        """Send one client event as JSON."""
        self.send(Frame.json(dict(event)), note)

    # --- receiving -------------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Received:
        """Wait for the next server message; :class:`Closed` when the connection closes."""
        if self.closed:
            raise Closed(self.close_code, "already closed")
        try:
            message = self.ws.recv(timeout=self.target.timeout if timeout is None else timeout)
        except ConnectionClosed as exc:
            self._closed(exc)
            raise Closed(self.close_code, "") from exc
        if isinstance(message, bytes):
            index = self.tape.add(
                self.conn, "binary", dir="s2c", b64=base64.b64encode(message).decode("ascii")
            )
            return Received(index, None)
        index = self.tape.add(self.conn, "text", dir="s2c", text=message)
        try:
            event = json.loads(message)
        except ValueError:
            return Received(index, None)
        return Received(index, event if isinstance(event, dict) else None)

    def receive_until(
        self, done: Callable[[dict[str, Any]], bool], timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Receive events until ``done(event)``; return them all (the last one included).

        Raises ``TimeoutError`` when nothing arrives within the timeout and :class:`Closed`
        when the connection closes first.
        """
        seen: list[dict[str, Any]] = []
        limit = time.monotonic() + (self.target.timeout if timeout is None else timeout)
        while True:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer in time")
            received = self.receive(remaining)
            if received.event is None:
                continue
            seen.append(received.event)
            if done(received.event):
                return seen

    def _closed(self, exc: ConnectionClosed) -> None:
        if self.closed:
            return
        self.closed = True
        frame = exc.rcvd
        self.close_code = frame.code if frame is not None else None
        self.tape.add(
            self.conn,
            "close",
            dir="s2c" if frame is not None else None,
            code=self.close_code if self.close_code is not None else 1006,
            reason=frame.reason if frame is not None else "",
        )

    def close(self) -> None:
        """Close the connection normally (1000) and record it."""
        if self.closed:
            return
        self.closed = True
        self.close_code = 1000
        self.tape.add(self.conn, "close", dir="c2s", code=1000, reason="")
        with contextlib.suppress(OSError, ConnectionClosed):
            self.ws.close()
