"""The reader sees the same messages whatever the chunks the bytes come in (sans-I/O).

Whole text and binary messages are read from the frame header without ``websockets``' parser,
everything else by the parser (conformance/proxy/reader.py): a stream mixing both - the three
length encodings of RFC 6455 section 5.2, pings, a fragmented message, compressed or not, each
direction - is cut at every offset of its first frames and in chunks of several sizes, and
every cut reads as the receiving end of the connection reads the stream.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol

from conformance.proxy.compression import decoders, parameters
from conformance.proxy.reader import CLIENT, UPSTREAM, Reader, Seen
from tests.proxy.wire import Wire, connected

# (kind, text or bytes) as a transcript would record each message.
Message = tuple[str, str | bytes]


def _send_mix(side: Protocol) -> None:
    side.send_text(b'{"type":"response.output_text.delta","delta":"a"}')
    side.send_text(("x" * 200).encode())  # a 16-bit length
    side.send_ping(b"p")
    side.send_text(("y" * 70_000).encode())  # a 64-bit length
    side.send_text(b'{"type":', fin=False)
    side.send_continuation(b'"response.create"}', fin=True)
    side.send_binary(b"\x00\x01")
    side.send_text("é ü".encode())


def _seen(seen: list[Seen]) -> list[Message]:
    out: list[Message] = []
    for item in seen:
        if item.kind == "text":
            assert item.text is not None
            out.append(("text", item.text))
        else:
            out.append((item.kind, item.data or b""))
    return out


def _received(frames: list[Frame]) -> list[Message]:
    """What the receiving end got: its frames, fragmented messages joined."""
    out: list[Message] = []
    parts: list[bytes] = []
    opcode = Opcode.TEXT
    for frame in frames:
        if frame.opcode in (Opcode.PING, Opcode.PONG):
            out.append((frame.opcode.name.lower(), bytes(frame.data)))
            continue
        if frame.opcode is not Opcode.CONT:
            opcode = frame.opcode
        parts.append(bytes(frame.data))
        if frame.fin:
            data = b"".join(parts)
            parts = []
            out.append(("text", data.decode()) if opcode is Opcode.TEXT else ("binary", data))
    return out


def _stream(compressed: bool, direction: str) -> tuple[Wire, bytes, list[Message]]:
    wire = connected(
        client_extensions=[ClientPerMessageDeflateFactory()] if compressed else None,
        server_extensions=[ServerPerMessageDeflateFactory()] if compressed else None,
    )
    sender, receiver = (wire.client, wire.server) if direction == CLIENT else (
        wire.server,
        wire.client,
    )  # fmt: skip
    _send_mix(sender)
    data = b"".join(sender.data_to_send())
    receiver.receive_data(data)
    frames = [e for e in receiver.events_received() if isinstance(e, Frame)]
    return wire, data, _received(frames)


def _fresh_reader(wire: Wire) -> Reader:
    """A reader with decoders of its own (a decoder keeps the compression context)."""
    negotiated = wire.handshake.negotiated
    c2s, s2c = decoders(parameters([negotiated]) if negotiated else None)
    return Reader(c2s, s2c)


def _read(reader: Reader, direction: str, pieces: list[bytes]) -> list[Message]:
    seen: list[Seen] = []
    for piece in pieces:
        seen.extend(reader.data(direction, piece))
    return _seen(seen)


Cut = Callable[[bytes], list[bytes]]


def _chunks(size: int) -> Cut:
    return lambda data: [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("direction", [CLIENT, UPSTREAM])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000, 1 << 20])
def test_any_chunking_reads_what_the_receiver_got(
    compressed: bool, direction: str, size: int
) -> None:
    wire, data, expected = _stream(compressed, direction)
    assert len(expected) == 7  # six messages and the ping
    assert _read(_fresh_reader(wire), direction, _chunks(size)(data)) == expected


@pytest.mark.parametrize("direction", [CLIENT, UPSTREAM])
def test_every_cut_in_the_first_frames_reads_the_same(direction: str) -> None:
    wire, data, expected = _stream(False, direction)
    for cut in range(1, 300):
        assert _read(_fresh_reader(wire), direction, [data[:cut], data[cut:]]) == expected, cut


def test_new_message_inside_a_fragmented_one_is_a_protocol_error_once() -> None:
    reader = Reader()
    first = Frame(Opcode.TEXT, b'{"a":', fin=False).serialize(mask=False)
    second = Frame(Opcode.TEXT, b"{}").serialize(mask=False)
    [unread] = reader.data(UPSTREAM, first + second)
    assert unread.kind == "unread"
    assert "expected a continuation frame" in (unread.note or "")
    assert reader.data(UPSTREAM, second) == []


def test_reserved_bit_without_an_extension_is_a_protocol_error() -> None:
    frame = bytearray(Frame(Opcode.TEXT, b"{}").serialize(mask=False))
    frame[0] |= 0x40  # RSV1, with no permessage-deflate negotiated
    [unread] = Reader().data(UPSTREAM, bytes(frame))
    assert unread.kind == "unread"
    assert "reserved bits must be 0" in (unread.note or "")


def test_compressed_message_above_the_limit_once_inflated_is_not_read() -> None:
    wire, data, _ = _stream(True, UPSTREAM)
    negotiated = wire.handshake.negotiated
    c2s, s2c = decoders(parameters([negotiated]) if negotiated else None)
    seen = Reader(c2s, s2c, max_size=60_000).data(UPSTREAM, data)
    # The 70,000 bytes of "y" compress far below the limit; inflated they are above it.
    assert [s.kind for s in seen] == ["text", "text", "ping", "unread"]
    assert "PayloadTooBig" in (seen[-1].note or "")


@pytest.mark.parametrize("fragmented", [False, True], ids=["whole", "fragmented"])
def test_text_that_is_no_utf8_is_seen_replaced_with_its_bytes(fragmented: bool) -> None:
    payload = b'{"delta":"\xff"}'
    if fragmented:
        data = Frame(Opcode.TEXT, payload[:5], fin=False).serialize(mask=False) + Frame(
            Opcode.CONT, payload[5:]
        ).serialize(mask=False)
    else:
        data = Frame(Opcode.TEXT, payload).serialize(mask=False)
    [seen] = Reader().data(UPSTREAM, data)
    assert (seen.kind, seen.text) == ("text", '{"delta":"\ufffd"}')
    # The bytes as they crossed, for the transcript's "utf8": false record.
    assert seen.data == payload
    [valid] = Reader().data(
        UPSTREAM, Frame(Opcode.TEXT, b'{"delta":"\xc3\xa9"}').serialize(mask=False)
    )
    assert (valid.text, valid.data) == ('{"delta":"\u00e9"}', None)
