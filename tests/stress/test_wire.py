"""Raw connections: frames and their summaries, hand-made compressed messages, and one
connection against a minimal sans-I/O server on loopback."""

from __future__ import annotations

import zlib

import pytest
import trio
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from conformance.stress.wire import (
    Assembler,
    ConnectFailed,
    RawConnection,
    deflate_message,
    deflate_repeated,
    frame_header,
    summarize_event,
)

__all__: list[str] = []

MASK = b"\x01\x02\x03\x04"


def _inflate(data: bytes, window_bits: int = 15) -> bytes:
    # What a permessage-deflate receiver does: put back the sync-flush tail, inflate.
    return zlib.decompressobj(-window_bits).decompress(data + b"\x00\x00\xff\xff")


def test_frame_headers_use_the_three_length_forms_and_set_mask_and_rsv1() -> None:
    assert frame_header(Opcode.TEXT.value, 5, MASK) == b"\x81\x85" + MASK
    assert frame_header(Opcode.TEXT.value, 300, MASK, rsv1=True) == b"\xc1\xfe\x01\x2c" + MASK
    long = frame_header(Opcode.BINARY.value, 70000, MASK)
    assert long[:2] == b"\x82\xff"
    assert int.from_bytes(long[2:10], "big") == 70000


def test_the_assembler_joins_fragments_and_summarises_events() -> None:
    assembler = Assembler()
    assert assembler.feed(Frame(Opcode.TEXT, b'{"type":"error",', fin=False), 1.0) is None
    message = assembler.feed(Frame(Opcode.CONT, b'"error":{"code":"invalid_json"}}', fin=True), 2.0)
    assert message is not None
    assert (message.kind, message.event_type, message.error_code, message.at) == (
        "text",
        "error",
        "invalid_json",
        2.0,
    )
    assert message.size == len(b'{"type":"error","error":{"code":"invalid_json"}}')
    close = assembler.feed(Frame(Opcode.CLOSE, Close(1008, "abuse").serialize()), 3.0)
    assert close is not None
    assert (close.kind, close.close_code, close.close_reason) == ("close", 1008, "abuse")
    assert close.describe() == "close 1008 ('abuse')"
    assert assembler.feed(Frame(Opcode.PING, b"p"), 4.0) is None


def test_a_message_above_the_parse_limit_is_counted_not_parsed() -> None:
    assembler = Assembler(parse_limit=10)
    message = assembler.feed(Frame(Opcode.TEXT, b'{"type":"response.completed"}'), 1.0)
    assert message is not None
    assert (message.size, message.event_type) == (29, None)


def test_event_summaries_tell_a_runs_error_from_a_requests() -> None:
    assert summarize_event(b'{"type":"response.completed","response":{"status":"completed"}}') == (
        "response.completed",
        None,
        "completed",
        False,
    )
    assert summarize_event(b'{"type":"error","sequence_number":3,"error":{"code":"x"}}')[3]
    assert summarize_event(b"[1]") == (None, None, None, False)
    assert summarize_event(b"{oops") == (None, None, None, False)


@pytest.mark.parametrize("bits", [9, 12, 15])
def test_a_hand_compressed_message_inflates_to_its_payload(bits: int) -> None:
    payload = b'{"type":"response.create","input":"' + b"abc" * 20000 + b'"}'
    compressed = deflate_message(payload, bits)
    assert not compressed.endswith(b"\x00\x00\xff\xff")
    assert len(compressed) < len(payload) // 50
    assert _inflate(compressed, bits) == payload


def test_a_bomb_inflates_to_exactly_its_size_from_a_small_message() -> None:
    compressed = deflate_repeated(b"[", b"xyz", 5_000_000, b"]", 12)
    assert len(compressed) < 50_000
    inflated = _inflate(compressed, 12)
    assert len(inflated) == 5_000_000
    assert inflated[:4] == b"[xyz"
    assert inflated[-2:] == b"z]"
    # A receiver that bounds its inflating stops at its limit.
    bounded = zlib.decompressobj(-12).decompress(compressed, 1_000_000)
    assert len(bounded) == 1_000_000


async def _serve_one(listener: trio.SocketListener, received: list[bytes]) -> None:
    """A minimal server: accept one upgrade (with permessage-deflate), send two events in one
    write, keep every text message it reads until the client closes."""
    stream = await listener.accept()
    protocol = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()], max_size=None)
    request: Request | None = None
    while request is None:
        protocol.receive_data(await stream.receive_some(65536))
        request = next((e for e in protocol.events_received() if isinstance(e, Request)), None)
    response = protocol.accept(request)
    response.headers["responses-ws-limits"] = "max-message-size=1048576"
    protocol.send_response(response)
    protocol.send_text(b'{"type":"response.created","response":{"status":"in_progress"}}')
    protocol.send_text(b'{"type":"response.completed","response":{"status":"completed"}}')
    await stream.send_all(b"".join(protocol.data_to_send()))
    parts: list[bytes] = []
    while True:
        data = await stream.receive_some(1 << 20)
        if not data:
            break
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.CONT):
                parts.append(bytes(event.data))
                if event.fin:
                    received.append(b"".join(parts))
                    parts = []
        out = protocol.data_to_send()
        if any(chunk == b"" for chunk in out):
            await stream.send_all(b"".join(out))
            break
        await stream.send_all(b"".join(out))
    await stream.aclose()


async def test_a_raw_connection_sends_large_and_compressed_messages_and_loses_no_event() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    received: list[bytes] = []
    big = b"0123456" * 450_000  # 3.15 MB: several masked pieces, not a multiple of 4
    small = b'{"type":"response.create","input":"' + b"fox " * 5000 + b'"}'
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve_one, listener, received)
        conn = await RawConnection.open(
            f"ws://127.0.0.1:{port}/v1/responses", api_key="k", compression=True
        )
        assert conn.headers["responses-ws-limits"] == "max-message-size=1048576"
        deflate = conn.deflate()
        assert deflate is not None
        first = await conn.next_message()
        second = await conn.next_message()
        assert first is not None
        assert second is not None
        assert (first.event_type, second.event_type) == ("response.created", "response.completed")
        assert second.status == "completed"
        await conn.send_message(big)
        await conn.send_deflated(deflate_message(small, deflate.local_max_window_bits))
        await conn.close()
        assert conn.eof
        assert conn.bytes_sent > len(big)
    await listener.aclose()
    assert received == [big, small]


async def test_a_refused_connection_is_reported_not_raised_as_an_os_error() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with pytest.raises(ConnectFailed, match="could not connect"):
        await RawConnection.open(f"ws://127.0.0.1:{port}/v1/responses", api_key=None)
