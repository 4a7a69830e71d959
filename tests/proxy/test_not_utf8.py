"""Text messages that are not valid UTF-8 cross the proxy unchanged and are the sender's fault.

Both ends here are written by hand over trio sockets, so that each sees the bytes as they came:
a raw client that offers no permessage-deflate (its frames cross the proxy byte for byte) and a
minimal upstream that answers the upgrade and reads and writes frames itself (RFC 6455 section
5.2). A client's text message that is not UTF-8 reaches the upstream with the same payload and
the proxy tells RWS-TRANS-6; an upstream's reaches the client the same way and the proxy tells
RWS-TRANS-5. The transcript keeps the bytes (``"utf8": false`` with ``b64``,
docs/transcripts.md). The reference server behind the proxy answers the client's message with
the close 1007, which the client sees and the proxy finds right (RWS-ERR-6).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from conformance.harness.spawn import SpawnedServer, spawn_reference
from conformance.results import Verdict
from tests.proxy.running import Running, running_proxy

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE = 0x1, 0x8
_INVALID_DATA = (1007).to_bytes(2, "big")
# JSON once replaced (the bad bytes sit in a string), and not UTF-8 as sent: a lone
# continuation byte in the client's, a surrogate's encoding in the upstream's.
_FROM_CLIENT = b'{"type":"response.create","model":"conformance-1","input":"h\x80i"}'
_FROM_UPSTREAM = b'{"type":"response.output_text.delta","delta":"\xed\xa0\x80"}'
# A bound on each exchange, so that a proxy that loses a frame fails the test instead of
# hanging it (no assertion depends on it).
_GUARD = 20.0


class _Peer:
    """One end of a TCP stream, read and written in frames by hand."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def _more(self) -> None:
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise EOFError("the other side ended the stream")
        self.buffer += chunk

    async def head(self) -> bytes:
        """An HTTP head, up to and including its blank line."""
        while b"\r\n\r\n" not in self.buffer:
            await self._more()
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = bytes(self.buffer[:end])
        del self.buffer[:end]
        return head

    async def _exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._more()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def frame(self) -> tuple[int, bytes, bool]:
        """The next frame: its opcode, its payload (unmasked) and whether it was masked."""
        first, second = await self._exact(2)
        assert first & 0x80, "a fragment: these tests send whole messages"
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await self._exact(2), "big")
        elif length == 127:
            length = int.from_bytes(await self._exact(8), "big")
        mask = await self._exact(4) if second & 0x80 else None
        payload = await self._exact(length)
        if mask is not None:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return first & 0x0F, payload, mask is not None

    async def send(self, opcode: int, payload: bytes, *, masked: bool) -> None:
        """One whole frame; a client masks its frames, a server does not (RFC 6455 5.1)."""
        head = bytearray([0x80 | opcode])
        bit = 0x80 if masked else 0
        if len(payload) < 126:
            head.append(bit | len(payload))
        else:
            head += bytes([bit | 126]) + len(payload).to_bytes(2, "big")
        if masked:
            key = os.urandom(4)
            head += key
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        await self.stream.send_all(bytes(head) + payload)

    async def until_end(self) -> None:
        """Read until the other side ends the stream."""
        while await self.stream.receive_some(65536):
            pass


def _accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def _header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        field, _, value = line.partition(":")
        if field.strip().lower() == name:
            return value.strip()
    return None


@asynccontextmanager
async def _raw_upstream(script: Callable[[_Peer], Awaitable[None]]) -> AsyncIterator[str]:
    """A minimal WebSocket server: it accepts the upgrade (no extension), then runs
    ``script`` over the connection's frames and ends the TCP connection."""

    async def handle(stream: trio.SocketStream) -> None:
        peer = _Peer(stream)
        head = await peer.head()
        key = _header(head, "sec-websocket-key")
        assert key is not None
        assert _header(head, "sec-websocket-extensions") is None
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {_accept(key)}\r\n\r\n".encode("ascii")
        )
        await script(peer)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"), handle, 0
        )
        port = listeners[0].socket.getsockname()[1]
        yield f"ws://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def _raw_client(proxy: Running, api_key: str = "sk-raw-client-test") -> AsyncIterator[_Peer]:
    """A client connected through the proxy, offering no extension."""
    host, _, port = proxy.url.removeprefix("ws://").partition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    await stream.send_all(
        f"GET /v1/responses HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {api_key}\r\n\r\n".encode("ascii")
    )
    peer = _Peer(stream)
    head = await peer.head()
    assert head.startswith(b"HTTP/1.1 101"), head
    assert _header(head, "sec-websocket-accept") == _accept(key)
    assert _header(head, "sec-websocket-extensions") is None
    async with stream:
        yield peer


def _records(report_dir: Path) -> list[dict[str, Any]]:
    text = (report_dir / "transcripts" / "c1.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _text_record(report_dir: Path, direction: str) -> dict[str, Any]:
    [record] = [r for r in _records(report_dir) if r["kind"] == "text" and r["dir"] == direction]
    return record


def _kept(record: dict[str, Any], payload: bytes) -> None:
    """The transcript record of a message that is not UTF-8 holds its bytes exactly."""
    assert record["utf8"] is False
    assert base64.b64decode(record["b64"]) == payload
    assert record["text"] == payload.decode("utf-8", "replace")


async def test_client_text_not_utf8_reaches_the_upstream_unchanged_and_breaks_trans_6(
    tmp_path: Path,
) -> None:
    received: list[tuple[int, bytes, bool]] = []

    async def upstream(peer: _Peer) -> None:
        received.append(await peer.frame())
        await peer.send(_CLOSE, _INVALID_DATA, masked=False)  # RFC 6455 section 8.1
        received.append(await peer.frame())

    with trio.fail_after(_GUARD):
        async with _raw_upstream(upstream) as url, running_proxy(url, tmp_path) as proxy:
            async with _raw_client(proxy) as client:
                await client.send(_TEXT, _FROM_CLIENT, masked=True)
                closing = await client.frame()
                await client.send(_CLOSE, closing[1][:2], masked=True)
                await client.until_end()
            end = await proxy.finish()
    assert received[0] == (_TEXT, _FROM_CLIENT, True)
    assert received[1][:2] == (_CLOSE, _INVALID_DATA)
    assert closing == (_CLOSE, _INVALID_DATA, False)
    assert proxy.told_requirements() == {"RWS-TRANS-6"}
    [told] = proxy.told
    assert told.finding.verdict is Verdict.FAILED
    assert "not valid UTF-8 (bytes 80 at offset" in told.finding.message
    assert told.event == "c2s text (not UTF-8)"
    # The upstream's close 1007 is the answer the message is owed.
    assert end.report.verdicts()["RWS-ERR-6"] is Verdict.PASSED
    _kept(_text_record(tmp_path, "c2s"), _FROM_CLIENT)


async def test_upstream_text_not_utf8_reaches_the_client_unchanged_and_breaks_trans_5(
    tmp_path: Path,
) -> None:
    closes: list[tuple[int, bytes, bool]] = []

    async def upstream(peer: _Peer) -> None:
        await peer.send(_TEXT, _FROM_UPSTREAM, masked=False)
        closes.append(await peer.frame())
        await peer.send(_CLOSE, closes[0][1][:2], masked=False)

    with trio.fail_after(_GUARD):
        async with _raw_upstream(upstream) as url, running_proxy(url, tmp_path) as proxy:
            async with _raw_client(proxy) as client:
                message = await client.frame()
                # A conforming client fails the connection (RFC 6455 section 8.1).
                await client.send(_CLOSE, _INVALID_DATA, masked=True)
                answer = await client.frame()
                await client.until_end()
            end = await proxy.finish()
    assert message == (_TEXT, _FROM_UPSTREAM, False)
    assert closes[0][:2] == (_CLOSE, _INVALID_DATA)
    assert answer[:2] == (_CLOSE, _INVALID_DATA)
    assert proxy.told_requirements() == {"RWS-TRANS-5"}
    [told] = proxy.told
    assert told.finding.verdict is Verdict.FAILED
    assert "not valid UTF-8 (bytes ed at offset" in told.finding.message
    assert end.report.verdicts()["RWS-TRANS-5"] is Verdict.FAILED
    _kept(_text_record(tmp_path, "s2c"), _FROM_UPSTREAM)


@pytest.fixture
def reference() -> Iterator[SpawnedServer]:
    """The reference server, as a subprocess."""
    with spawn_reference() as server:
        yield server


async def test_reference_server_behind_the_proxy_closes_1007_and_the_client_sees_it(
    tmp_path: Path, reference: SpawnedServer
) -> None:
    with trio.fail_after(_GUARD):
        async with running_proxy(reference.url, tmp_path) as proxy:
            async with _raw_client(proxy, reference.api_keys[0]) as client:
                await client.send(_TEXT, _FROM_CLIENT, masked=True)
                closing = await client.frame()
                await client.send(_CLOSE, closing[1][:2], masked=True)
                await client.until_end()
            end = await proxy.finish()
    assert (closing[0], closing[1][:2]) == (_CLOSE, _INVALID_DATA)
    assert proxy.told_requirements() == {"RWS-TRANS-6"}
    assert end.report.verdicts()["RWS-ERR-6"] is Verdict.PASSED
    # The server failed the connection (its close, then the end of its TCP stream at once,
    # RFC 6455 section 7.1.7): recorded as its close, not as a drop.
    records = _records(tmp_path)
    assert [(r["kind"], r.get("dir"), r.get("code")) for r in records[2:]] == [
        ("close", "s2c", 1007),
        ("close", "c2s", 1007),
    ]
    _kept(_text_record(tmp_path, "c2s"), _FROM_CLIENT)
