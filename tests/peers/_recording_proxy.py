"""A transparent TCP proxy in front of a WebSocket-mode server that writes a transcript.

A client that is a native program (Codex CLI) cannot be tapped from inside like the Python SDKs
(``scripts/_common.tap_wire``), so the peer test puts this proxy between it and the reference
server. The proxy relays bytes unchanged in both directions and parses a copy of each direction
with the ``websockets`` sans-I/O protocol, recording every message and control frame in the
transcript format of docs/transcripts.md: an ``open`` (or ``rejected``) record per upgrade,
``text``/``binary``/``ping``/``pong`` records per message, and ``close`` records for close frames
and for a connection dropped without one (code 1006, no ``dir``). Because it relays bytes, it
does not answer pings or closes itself: what the transcript shows is what each peer did.

The one change it makes to the traffic is to drop the client's ``Sec-WebSocket-Extensions``
offer from the upgrade request, so that no compression is negotiated and the parsers read the
frames as they are. The ``Authorization`` header is not recorded: the ``open`` record carries a
``principal`` (a fingerprint of the bearer key) instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import Protocol, Side

__all__ = ["RecordingProxy"]

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024
_READ = 65536
# Request headers never written to the transcript (credentials).
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass
class _Head:
    """An HTTP request or response head: its first line and its header lines."""

    first: str
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return ""

    def without(self, name: str) -> _Head:
        return _Head(self.first, [(k, v) for k, v in self.headers if k.lower() != name.lower()])

    def encode(self) -> bytes:
        lines = [self.first, *(f"{k}: {v}" for k, v in self.headers)]
        return ("\r\n".join(lines)).encode("latin-1") + _HEAD_END


def _parse_head(raw: bytes) -> _Head:
    first, *rest = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in rest:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return _Head(first, headers)


async def _read_head(stream: trio.SocketStream, buffered: bytearray) -> _Head | None:
    """Read one HTTP head from ``stream``; what follows it stays in ``buffered``."""
    while _HEAD_END not in buffered:
        if len(buffered) > _MAX_HEAD:
            return None
        chunk = await stream.receive_some(_READ)
        if not chunk:
            return None
        buffered += chunk
    end = buffered.index(_HEAD_END)
    head = _parse_head(bytes(buffered[:end]))
    del buffered[: end + len(_HEAD_END)]
    return head


def principal(authorization: str) -> str | None:
    """The fingerprint of a bearer key, as the transcript's ``principal``."""
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return "key-sha256:" + hashlib.sha256(key.strip().encode("utf-8")).hexdigest()[:16]


@dataclass
class _Direction:
    """One direction of one connection: a parser for its frames and a message being built."""

    conn: str
    dir: str  # "c2s" or "s2c"
    parser: Protocol
    fragments: list[bytes] = field(default_factory=list)
    opcode: Opcode | None = None
    closed: bool = False


@dataclass
class RecordingProxy:
    """Relays ``127.0.0.1:<port>`` to ``upstream`` (a ``ws://host:port/...`` URL) and records.

    ``records`` holds the transcript in the order the proxy observed it; :meth:`write` saves it
    as JSON Lines. Start it with ``await nursery.start(proxy.run)``; ``port`` is then set.
    """

    upstream: str
    records: list[dict[str, Any]] = field(default_factory=list)
    # The first request of each TCP connection that was not a WebSocket upgrade
    # ("POST /v1/responses", an HTTP fallback): relayed, not recorded in the transcript.
    http_requests: list[str] = field(default_factory=list)
    port: int = 0
    _t0: float = 0.0
    _count: int = 0
    _active: int = 0
    _changed: trio.Event = field(default_factory=trio.Event)

    def _add(self, conn: str, kind: str, **fields: Any) -> None:
        record: dict[str, Any] = {"ts": round(trio.current_time() - self._t0, 6), "conn": conn}
        record["kind"] = kind
        record.update({k: v for k, v in fields.items() if v is not None})
        self.records.append(record)

    def write(self, path: Path) -> None:
        """Write the transcript as JSON Lines."""
        with path.open("w", encoding="utf-8") as out:
            for record in self.records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on an ephemeral loopback port until cancelled."""
        self._t0 = trio.current_time()
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._handle, listeners)

    async def wait_idle(self) -> None:
        """Return once no connection is open (every one has its closing records)."""
        while self._active:
            changed = self._changed
            await changed.wait()

    async def _handle(self, client: trio.SocketStream) -> None:
        target = urlsplit(self.upstream)
        self._active += 1
        try:
            async with client:
                try:
                    server = await trio.open_tcp_stream(
                        target.hostname or "127.0.0.1", target.port or 80
                    )
                except OSError:
                    return
                async with server:
                    await self._relay(client, server)
        finally:
            self._active -= 1
            self._changed.set()
            self._changed = trio.Event()

    async def _relay(self, client: trio.SocketStream, server: trio.SocketStream) -> None:
        from_client = bytearray()
        request = await _read_head(client, from_client)
        if request is None:
            return
        method, _, rest = request.first.partition(" ")
        path = rest.rpartition(" ")[0]
        if method != "GET" or "websocket" not in request.get("Upgrade").lower():
            # Not an upgrade (an HTTP fallback): no transcript record, relayed as it is.
            self.http_requests.append(f"{method} {path}")
            await self._pipe(client, server, request.encode() + bytes(from_client), b"")
            return
        await server.send_all(request.without("Sec-WebSocket-Extensions").encode())
        from_server = bytearray()
        response = await _read_head(server, from_server)
        if response is None:
            return
        status = int(response.first.split(" ")[1])
        self._count += 1
        conn = f"c{self._count}"
        url = f"ws://127.0.0.1:{self.port}{path}"
        if status != 101:
            self._add(conn, "rejected", url=url, status=status)
            await self._pipe(client, server, bytes(from_client), response.encode() + from_server)
            return
        headers = {k: v for k, v in request.headers if k.lower() not in _SECRET_HEADERS}
        self._add(
            conn,
            "open",
            url=url,
            status=status,
            headers=headers,
            principal=principal(request.get("Authorization")),
        )
        await client.send_all(response.encode())
        c2s = _Direction(conn, "c2s", Protocol(Side.SERVER, max_size=None))
        s2c = _Direction(conn, "s2c", Protocol(Side.CLIENT, max_size=None))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server, c2s, bytes(from_client), nursery)
            nursery.start_soon(self._pump, server, client, s2c, bytes(from_server), nursery)
        if not (c2s.closed or s2c.closed):
            # Neither side sent a close frame: the TCP connection was dropped.
            self._add(conn, "close", code=1006)

    async def _pipe(
        self, client: trio.SocketStream, server: trio.SocketStream, up: bytes, down: bytes
    ) -> None:
        """Relay both ways without parsing (HTTP that is no WebSocket), starting with these."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server, None, up, nursery)
            nursery.start_soon(self._pump, server, client, None, down, nursery)

    async def _pump(
        self,
        source: trio.SocketStream,
        sink: trio.SocketStream,
        direction: _Direction | None,
        pending: bytes,
        nursery: trio.Nursery,
    ) -> None:
        data = pending
        try:
            while True:
                if data:
                    # Record first, then forward: the transcript never shows an answer before
                    # the message it answers.
                    if direction is not None:
                        self._observe(direction, data)
                    await sink.send_all(data)
                data = await source.receive_some(_READ)
                if not data:
                    break
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        # One side is gone: so is the connection (the other pump stops too).
        nursery.cancel_scope.cancel()

    def _observe(self, direction: _Direction, data: bytes) -> None:
        parser = direction.parser
        parser.receive_data(data)
        for frame in parser.events_received():
            if not isinstance(frame, Frame):
                continue  # the parsers start OPEN: no handshake events
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                direction.opcode = frame.opcode
                direction.fragments = [bytes(frame.data)]
            elif frame.opcode is Opcode.CONT:
                direction.fragments.append(bytes(frame.data))
            elif frame.opcode in (Opcode.PING, Opcode.PONG):
                kind = "ping" if frame.opcode is Opcode.PING else "pong"
                b64 = base64.b64encode(frame.data).decode() if frame.data else None
                self._add(direction.conn, kind, dir=direction.dir, b64=b64)
                continue
            elif frame.opcode is Opcode.CLOSE:
                close = Close.parse(frame.data)
                direction.closed = True
                self._add(
                    direction.conn,
                    "close",
                    dir=direction.dir,
                    code=close.code,
                    reason=close.reason,
                )
                continue
            if frame.fin and direction.opcode is not None:
                payload = b"".join(direction.fragments)
                if direction.opcode is Opcode.TEXT:
                    text = payload.decode("utf-8", "replace")
                    self._add(direction.conn, "text", dir=direction.dir, text=text)
                else:
                    b64 = base64.b64encode(payload).decode()
                    self._add(direction.conn, "binary", dir=direction.dir, b64=b64)
                direction.opcode = None
                direction.fragments = []
        # The parser's own replies (pongs, close echoes) are not sent: the peers answer.
        parser.data_to_send()
