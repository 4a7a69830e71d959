"""Raw WebSocket connections for the stress probes: the client decides when bytes are read.

The suite's recording connection (:mod:`conformance.harness.wire`) reads every message as
soon as it arrives and keeps it in a transcript. A stress probe needs the opposite: read at a
bounded rate or not at all (so that the server, not the client, has to hold what it sends),
send messages of 15 MB without keeping copies, send hand-made compressed frames, and keep
only the size and the kind of what came back. So this module drives websockets' sans-I/O
:class:`~websockets.client.ClientProtocol` over a trio stream itself:

* :meth:`RawConnection.receive` is one ``receive_some`` of at most ``max_bytes``: the caller
  sets the reading rate. Pings are answered (by the protocol) as soon as they are read.
* :meth:`RawConnection.send_message` frames and masks a payload in 1 MiB pieces, so a large
  message exists once in memory; :meth:`RawConnection.send_deflated` sends a payload the
  probe compressed itself as one permessage-deflate message (RSV1 set).
* :class:`Assembler` turns received frames into :class:`Received` summaries: kind, size, and
  for JSON messages the event ``type``, ``error.code`` and ``response.status``; the bodies
  are dropped.

Nothing here records a transcript: a probe reports figures, not wire logs.
"""

from __future__ import annotations

import collections
import contextlib
import secrets
import ssl
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
import trio
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = [
    "MASK_CHUNK",
    "Assembler",
    "ConnectFailed",
    "RawConnection",
    "Received",
    "deflate_message",
    "deflate_repeated",
    "frame_header",
    "summarize_event",
]

#: Payloads are masked and written in pieces of this size (a multiple of 4, so that the
#: mask lines up at every piece).
MASK_CHUNK = 1 << 20
#: A server frame above this fails the connection (1009) instead of filling the prober.
MAX_SERVER_FRAME = 256 << 20
#: A received message above this is counted, not parsed.
PARSE_LIMIT = 64 << 20


class ConnectFailed(Exception):
    """The connection or the upgrade did not succeed (``status``: the HTTP status, if any)."""

    def __init__(self, what: str, status: int | None = None) -> None:
        super().__init__(what)
        self.status = status


@dataclass(frozen=True, slots=True)
class Received:
    """One server message (or the server's close frame), summarised."""

    kind: str  # "text", "binary" or "close"
    size: int  # payload bytes after decompression
    at: float  # time.monotonic() when its last frame was read
    event_type: str | None = None
    error_code: str | None = None
    status: str | None = None  # response.status of a response.* event
    # An error event that carries a sequence_number belongs to a run (the run's
    # response.failed follows); one without is a request's or a frame's outcome.
    in_run: bool = False
    close_code: int | None = None
    close_reason: str = ""

    def describe(self) -> str:
        """A few words for a report: ``error rate_limit_exceeded``, ``close 1009``."""
        if self.kind == "close":
            return f"close {self.close_code}" + (
                f" ({self.close_reason!r})" if self.close_reason else ""
            )
        if self.event_type == "error":
            return f"error {self.error_code}"
        return self.event_type or f"{self.kind} message of {self.size} bytes"


def summarize_event(data: bytes) -> tuple[str | None, str | None, str | None, bool]:
    """``(type, error.code, response.status, in_run)`` of a JSON event (Nones and False
    when it is not a JSON object)."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None, None, None, False
    if not isinstance(event, dict):
        return None, None, None, False
    etype = event.get("type")
    error = event.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    response = event.get("response")
    status = response.get("status") if isinstance(response, dict) else None
    return (
        etype if isinstance(etype, str) else None,
        code if isinstance(code, str) else None,
        status if isinstance(status, str) else None,
        etype == "error" and "sequence_number" in event,
    )


class Assembler:
    """Sans-I/O: frames in, :class:`Received` summaries out (fragmented messages joined)."""

    def __init__(self, parse_limit: int = PARSE_LIMIT) -> None:
        self.parse_limit = parse_limit
        self._kind: str | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, frame: Frame, now: float) -> Received | None:
        """Take one (decoded) frame; return a message once its last frame is in."""
        if frame.opcode is Opcode.CLOSE:
            close = Close.parse(frame.data) if frame.data else None
            return Received(
                "close",
                len(frame.data),
                now,
                close_code=close.code if close is not None else 1005,
                close_reason=close.reason if close is not None else "",
            )
        if frame.opcode in (Opcode.PING, Opcode.PONG):
            return None
        if frame.opcode is not Opcode.CONT:
            self._kind = "text" if frame.opcode is Opcode.TEXT else "binary"
            self._parts = []
            self._size = 0
        self._size += len(frame.data)
        if self._size <= self.parse_limit:
            self._parts.append(bytes(frame.data))
        else:
            self._parts = []  # too big to parse: only its size is kept
        if not frame.fin:
            return None
        kind = self._kind or "binary"
        size = self._size
        body = b"".join(self._parts) if self._size <= self.parse_limit else b""
        self._kind, self._parts, self._size = None, [], 0
        if kind != "text" or not body:
            return Received(kind, size, now)
        etype, code, status, in_run = summarize_event(body)
        return Received(
            kind, size, now, event_type=etype, error_code=code, status=status, in_run=in_run
        )


def frame_header(opcode: int, length: int, mask: bytes, *, rsv1: bool = False) -> bytes:
    """The header of one final, masked client frame (RFC 6455 section 5.2)."""
    head1 = 0x80 | (0x40 if rsv1 else 0) | opcode
    if length < 126:
        return struct.pack("!BB", head1, 0x80 | length) + mask
    if length < 1 << 16:
        return struct.pack("!BBH", head1, 0x80 | 126, length) + mask
    return struct.pack("!BBQ", head1, 0x80 | 127, length) + mask


def _raw_deflater(window_bits: int) -> Any:
    # Raw deflate (no zlib header), as permessage-deflate carries it (RFC 7692 section 7.2.1).
    return zlib.compressobj(9, zlib.DEFLATED, -max(9, window_bits), 9)


def _finish(compressor: Any) -> bytes:
    tail = compressor.flush(zlib.Z_SYNC_FLUSH)
    # RFC 7692 section 7.2.1: the empty stored block that ends a sync flush is left out.
    assert tail.endswith(b"\x00\x00\xff\xff")
    return bytes(tail[:-4])


def deflate_message(payload: bytes | bytearray, window_bits: int = 15) -> bytes:
    """``payload`` compressed as one permessage-deflate message with a fresh compressor
    (valid whatever context-takeover the server agreed to: it refers to nothing before)."""
    compressor = _raw_deflater(window_bits)
    return bytes(compressor.compress(payload)) + _finish(compressor)


def deflate_repeated(
    head: bytes, unit: bytes, total: int, tail: bytes, window_bits: int = 15
) -> bytes:
    """``head + unit * n + tail`` (``total`` bytes in all, ``unit`` cut to fit) compressed,
    without ever holding the inflated message: a bomb of 64 MB costs a 1 MiB buffer."""
    compressor = _raw_deflater(window_bits)
    out = [compressor.compress(head)]
    body = total - len(head) - len(tail)
    piece = unit * max(1, MASK_CHUNK // max(1, len(unit)))
    while body > 0:
        chunk = piece[:body]
        out.append(compressor.compress(chunk))
        body -= len(chunk)
    out.append(compressor.compress(tail))
    out.append(_finish(compressor))
    return b"".join(out)


async def _upgrade(
    stream: trio.abc.Stream, protocol: ClientProtocol
) -> tuple[Response, list[Frame]]:
    """Send the upgrade request and read until its response (and any frames after it)."""
    for request in protocol.data_to_send():
        await stream.send_all(request)
    while True:
        data = await stream.receive_some(65536)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events = protocol.events_received()
        response = next((e for e in events if isinstance(e, Response)), None)
        if response is not None:
            return response, [e for e in events if isinstance(e, Frame)]
        if not data:
            raise ConnectFailed("the server closed the connection during the upgrade")


def _split_url(url: str) -> tuple[str, int, bool]:
    uri = parse_uri(url)
    return uri.host, uri.port, uri.secure


class RawConnection:
    """One client WebSocket whose reading and writing the probe drives (module docstring)."""

    def __init__(self, stream: trio.abc.Stream, protocol: ClientProtocol, response: Response):
        self.stream = stream
        self.protocol = protocol
        self.response = response
        self.bytes_read = 0
        self.bytes_sent = 0
        self.eof = False  # the server ended the TCP stream (or it broke)
        self.close_frame: Received | None = None
        self.broken: str | None = None  # why reading or writing failed, if it did
        self._assembler = Assembler()
        self._inbox: collections.deque[Received] = collections.deque()
        self._pending: list[bytes] = []
        self._send_lock = trio.Lock()

    # --- opening -----------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        api_key: str | None,
        compression: bool = False,
        timeout: float = 10.0,  # noqa: ASYNC109 - one bound for connect and upgrade
    ) -> RawConnection:
        """Connect and upgrade; raise :class:`ConnectFailed` on any failure within
        ``timeout`` seconds (with the HTTP status when the upgrade was refused)."""
        host, port, secure = _split_url(url)
        extensions = (
            [ClientPerMessageDeflateFactory(client_max_window_bits=True)] if compression else None
        )
        protocol = ClientProtocol(parse_uri(url), extensions=extensions, max_size=MAX_SERVER_FRAME)
        request = protocol.connect()
        if api_key is not None:
            request.headers["Authorization"] = f"Bearer {api_key}"
        request.headers["User-Agent"] = "responses-ws-stress"
        protocol.send_request(request)
        stream: trio.abc.Stream | None = None
        upgraded: tuple[Response, list[Frame]] | None = None
        try:
            with trio.move_on_after(timeout):
                stream = await trio.open_tcp_stream(host, port)
                if secure:
                    stream = trio.SSLStream(
                        stream, ssl.create_default_context(), server_hostname=host
                    )
                upgraded = await _upgrade(stream, protocol)
        except (OSError, trio.BrokenResourceError) as exc:
            await _close_quietly(stream)
            raise ConnectFailed(f"could not connect: {exc}") from exc
        except BaseException:
            await _close_quietly(stream)
            raise
        if upgraded is None or stream is None:
            await _close_quietly(stream)
            raise ConnectFailed(f"no upgrade response within {timeout:g} s")
        response, frames = upgraded
        if protocol.handshake_exc is not None or response.status_code != 101:
            await _close_quietly(stream)
            raise ConnectFailed(
                f"upgrade refused with HTTP {response.status_code}", response.status_code
            )
        conn = cls(stream, protocol, response)
        # Frames that came in the same read as the upgrade response wait for the first
        # receive (or next_message).
        early: list[Received] = []
        for frame in frames:
            conn._take(frame, time.monotonic(), early)
        conn._inbox.extend(early)
        return conn

    @property
    def headers(self) -> dict[str, str]:
        """The upgrade response's headers, lower-case names."""
        return {k.lower(): v for k, v in self.response.headers.raw_items()}

    def deflate(self) -> PerMessageDeflate | None:
        """The negotiated permessage-deflate extension, if the server agreed to one."""
        return next((e for e in self.protocol.extensions if isinstance(e, PerMessageDeflate)), None)

    def addresses(self) -> tuple[tuple[str, int], tuple[str, int]] | None:
        """``(local, peer)`` socket addresses, for finding the connection in /proc/net/tcp."""
        stream: Any = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        sock = getattr(stream, "socket", None)
        if sock is None:
            return None
        try:
            local, peer = sock.getsockname(), sock.getpeername()
        except OSError:
            return None
        return (str(local[0]), int(local[1])), (str(peer[0]), int(peer[1]))

    # --- receiving ---------------------------------------------------------------------

    def _take(self, frame: Frame, now: float, out: list[Received]) -> None:
        received = self._assembler.feed(frame, now)
        if received is None:
            return
        if received.kind == "close":
            self.close_frame = received
        out.append(received)

    async def receive(self, max_bytes: int = 65536) -> list[Received]:
        """Read once (at most ``max_bytes``); return the messages completed by it. At the end
        of the stream (``eof``) it returns at once with nothing. Messages already read and
        not yet returned (those that came with the upgrade response) come first, without a
        read."""
        if self._inbox:
            kept = list(self._inbox)
            self._inbox.clear()
            return kept
        if self.eof:
            return []
        try:
            data = await self.stream.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.broken = self.broken or f"reading failed: {exc}"
            data = b""
        now = time.monotonic()
        if data:
            self.bytes_read += len(data)
            self.protocol.receive_data(data)
        else:
            self.eof = True
            self.protocol.receive_eof()
        out: list[Received] = []
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self._take(event, now, out)
        if self.protocol.parser_exc is not None and self.broken is None:
            if isinstance(self.protocol.parser_exc, EOFError):
                # The TCP stream ended inside a frame: the server cut the connection (an
                # abort, or a close that dropped what it still had to send), not a bad frame.
                self.broken = (
                    "the server ended the TCP connection in the middle of a frame, without a "
                    f"close frame ({self.protocol.parser_exc})"
                )
            else:
                self.broken = f"the server's frames broke the protocol: {self.protocol.parser_exc}"
        self._pending.extend(d for d in self.protocol.data_to_send() if d)
        await self._flush_if_free()
        return out

    async def next_message(self) -> Received | None:
        """The next message, one at a time (what one read completed is kept for the next
        calls); None at the end of the stream. Do not mix with :meth:`receive`."""
        while not self._inbox:
            if self.eof:
                return None
            self._inbox.extend(await self.receive())
        return self._inbox.popleft()

    # --- sending -----------------------------------------------------------------------

    async def _write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.broken = self.broken or f"writing failed: {exc}"
            raise
        self.bytes_sent += len(data)

    async def _flush_locked(self) -> None:
        while self._pending:
            await self._write(self._pending.pop(0))

    async def _flush_if_free(self) -> None:
        # A reader must never wait behind a 15 MB send to answer a ping: what the protocol
        # wants to send waits in _pending, and the sender flushes it after its frame.
        if not self._pending:
            return
        try:
            self._send_lock.acquire_nowait()
        except trio.WouldBlock:
            return
        try:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self._flush_locked()
        finally:
            self._send_lock.release()

    async def _send_frame(
        self, opcode: int, payload: bytes | bytearray, *, rsv1: bool = False
    ) -> None:
        mask = _mask_key()
        view = memoryview(payload)
        async with self._send_lock:
            await self._flush_locked()
            first = view[:MASK_CHUNK]
            await self._write(
                frame_header(opcode, len(payload), mask, rsv1=rsv1) + apply_mask(first, mask)
            )
            for offset in range(MASK_CHUNK, len(payload), MASK_CHUNK):
                await self._write(apply_mask(view[offset : offset + MASK_CHUNK], mask))
            await self._flush_locked()

    async def send_message(self, payload: bytes | bytearray, *, binary: bool = False) -> None:
        """Send ``payload`` as one uncompressed text (or binary) message. Raises
        ``trio.BrokenResourceError`` (or ``OSError``) when the connection is gone."""
        await self._send_frame(Opcode.BINARY.value if binary else Opcode.TEXT.value, payload)

    async def send_deflated(self, deflated: bytes) -> None:
        """Send a payload compressed by :func:`deflate_message` or :func:`deflate_repeated`
        as one permessage-deflate text message (needs :meth:`deflate`)."""
        await self._send_frame(Opcode.TEXT.value, deflated, rsv1=True)

    async def abort(self) -> None:
        """Leave at once: close the TCP connection without a closing handshake, as a client
        that goes away does (what the server still had to send is dropped)."""
        self.eof = True
        await _close_quietly(self.stream)

    async def close(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Send a close frame, read until the server ends the stream (at most ``timeout``
        seconds, dropping what arrives), then close the socket."""
        with trio.move_on_after(timeout):
            # Once the server's close frame is in, the protocol has answered it already.
            if not self.eof and self.broken is None and self.protocol.state is State.OPEN:
                self.protocol.send_close(1000)
                self._pending.extend(d for d in self.protocol.data_to_send() if d)
                with contextlib.suppress(
                    trio.BrokenResourceError, trio.ClosedResourceError, OSError
                ):
                    async with self._send_lock:
                        await self._flush_locked()
            while not self.eof:
                await self.receive(1 << 20)
        await self.abort()


def _mask_key() -> bytes:
    # RFC 6455 section 5.3: unpredictable masking keys (secrets, as websockets does).
    return secrets.token_bytes(4)


async def _close_quietly(stream: trio.abc.Stream | None) -> None:
    if stream is None:
        return
    with trio.CancelScope(shield=True), contextlib.suppress(Exception):
        await trio.aclose_forcefully(stream)
