"""An asyncio WebSocket client that counts what it sends and times what it receives.

Bytes: ``payload`` is the UTF-8 length of every text message the client sends (the JSON body of
``response.create``, compact separators); ``wire`` adds the WebSocket frame headers of those
messages (client frames are masked: 2 + 0/2/8 + 4 bytes), the HTTP upgrade request and the
client's close frame. TCP/IP headers are not counted. Compression is off (as the websockets
FAQ recommends for benchmarks) so that payload bytes are what crosses the socket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

__all__ = [
    "BenchError",
    "ByteCount",
    "Connection",
    "TurnResult",
    "frame_header_size",
    "run_turn",
]

#: Event types that end a run (RWS-ORDER: exactly one terminal event per run).
TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})


class BenchError(RuntimeError):
    """The server did not answer as the benchmark expects (an error event, a wrong output)."""


def frame_header_size(payload: int) -> int:
    """Size of the header of one masked (client-to-server) WebSocket frame (RFC 6455 5.2)."""
    extended = 0 if payload < 126 else 2 if payload < 65536 else 8
    return 2 + extended + 4


#: A client close frame with status 1000 and no reason: header 6 bytes + 2-byte code.
CLOSE_FRAME_BYTES = 8


@dataclass(slots=True)
class ByteCount:
    """Client-to-server bytes: payload only, and on the wire (see the module docstring)."""

    payload: int = 0
    wire: int = 0
    messages: int = 0


@dataclass(slots=True)
class Connection:
    """One client connection; optionally records a transcript (docs/development.md)."""

    ws: ClientConnection
    count: ByteCount
    name: str = "c1"
    transcript: list[dict[str, Any]] | None = None
    origin: float = 0.0

    @classmethod
    async def open(
        cls,
        url: str,
        api_key: str,
        *,
        count: ByteCount | None = None,
        name: str = "c1",
        transcript: list[dict[str, Any]] | None = None,
        origin: float = 0.0,
    ) -> Connection:
        """Open a connection (no compression, no keepalive pings, no size limit)."""
        ws = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {api_key}"},
            compression=None,
            ping_interval=None,
            max_size=None,
            open_timeout=30,
        )
        conn = cls(ws, count or ByteCount(), name, transcript, origin)
        if ws.request is not None:
            conn.count.wire += len(ws.request.serialize())
        if transcript is not None:
            status = ws.response.status_code if ws.response is not None else 101
            transcript.append(
                {"ts": conn._ts(), "conn": name, "kind": "open", "url": url, "status": status}
            )
        return conn

    def _ts(self) -> float:
        return round(time.perf_counter() - self.origin, 6)

    async def send_text(self, text: str) -> float:
        """Send one text message; return the time just before sending."""
        size = len(text.encode())
        self.count.payload += size
        self.count.wire += size + frame_header_size(size)
        self.count.messages += 1
        if self.transcript is not None:
            self.transcript.append(
                {"ts": self._ts(), "conn": self.name, "kind": "text", "dir": "c2s", "text": text}
            )
        sent = time.perf_counter()
        await self.ws.send(text)
        return sent

    async def send_event(self, event: dict[str, Any]) -> float:
        """Send a client event as compact JSON; return the time just before sending."""
        return await self.send_text(json.dumps(event, separators=(",", ":")))

    async def recv_text(self) -> str:
        """Receive one text message."""
        message = await self.ws.recv()
        text = message if isinstance(message, str) else message.decode()
        if self.transcript is not None:
            self.transcript.append(
                {"ts": self._ts(), "conn": self.name, "kind": "text", "dir": "s2c", "text": text}
            )
        return text

    async def close(self) -> None:
        """Close with 1000 (counted as one close frame)."""
        self.count.wire += CLOSE_FRAME_BYTES
        await self.ws.close()
        if self.transcript is not None:
            code = self.ws.close_code if self.ws.close_code is not None else 1000
            self.transcript.append(
                {
                    "ts": self._ts(),
                    "conn": self.name,
                    "kind": "close",
                    "dir": "c2s",
                    "code": code,
                    "reason": "",
                }
            )


@dataclass(slots=True)
class TurnResult:
    """One ``response.create`` and its run, as the client saw it."""

    response_id: str
    status: str
    output: list[dict[str, Any]]
    usage: dict[str, Any]
    sent: float
    created: float
    done: float
    events: int
    bytes_sent: int = 0
    created_cpu: float = 0.0

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens not restored from the connection cache (what prefill pays for)."""
        details = self.usage.get("input_tokens_details") or {}
        return int(self.usage.get("input_tokens", 0)) - int(details.get("cached_tokens", 0))

    @property
    def cached_tokens(self) -> int:
        """``usage.input_tokens_details.cached_tokens``."""
        details = self.usage.get("input_tokens_details") or {}
        return int(details.get("cached_tokens", 0))


async def run_turn(
    conn: Connection, event: dict[str, Any], cpu: Callable[[], float] | None = None
) -> TurnResult:
    """Send one ``response.create`` and read its run up to the terminal event.

    ``cpu``, when given, reads the server's CPU time: it is read just before sending and just
    after ``response.created`` arrives, and the difference becomes ``created_cpu``.
    """
    before = conn.count.payload
    cpu_before = cpu() if cpu is not None else 0.0
    sent = await conn.send_event(event)
    created = 0.0
    created_cpu = 0.0
    output: list[dict[str, Any]] = []
    events = 0
    while True:
        text = await conn.recv_text()
        now = time.perf_counter()
        events += 1
        data = json.loads(text)
        kind = data.get("type")
        if kind == "response.created":
            created = now
            if cpu is not None:
                created_cpu = cpu() - cpu_before
        elif kind == "response.output_item.done":
            output.append(data["item"])
        elif kind == "error":
            raise BenchError(f"the server answered an error: {text[:300]}")
        elif kind in TERMINAL_TYPES:
            response = data["response"]
            return TurnResult(
                response_id=response["id"],
                status=kind,
                output=output,
                usage=response.get("usage") or {},
                sent=sent,
                created=created,
                done=now,
                events=events,
                bytes_sent=conn.count.payload - before,
                created_cpu=created_cpu,
            )
