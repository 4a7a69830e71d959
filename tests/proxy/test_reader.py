"""Bytes cross the proxy unchanged; the reader's copy says what crossed (sans-I/O).

The client and the server here are ``websockets``' own sans-I/O protocols, joined through the
proxy's handshake; every byte either writes reaches the other as it was, and the proxy's
reader sees messages, pings, pongs and closes in its copies, compressed or not.
"""

from __future__ import annotations

from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Close, Frame, Opcode

from conformance.proxy.reader import CLIENT, UPSTREAM, Reader
from tests.proxy.wire import connected


def _frames(frames: list[Frame]) -> list[tuple[Opcode, bytes]]:
    return [(f.opcode, bytes(f.data)) for f in frames]


def test_text_message_reaches_the_server_and_is_seen_once() -> None:
    wire = connected()
    wire.client.send_text(b'{"type":"response.create"}')
    seen, received = wire.from_client()
    assert [(s.kind, s.dir, s.text) for s in seen] == [
        ("text", CLIENT, '{"type":"response.create"}')
    ]
    assert _frames(received) == [(Opcode.TEXT, b'{"type":"response.create"}')]


def test_ping_reaches_the_server_and_its_pong_the_client_the_proxy_answers_nothing() -> None:
    wire = connected()
    wire.client.send_ping(b"p1")
    seen, received = wire.from_client()
    assert [(s.kind, s.dir, s.data) for s in seen] == [("ping", CLIENT, b"p1")]
    assert _frames(received) == [(Opcode.PING, b"p1")]
    # websockets' server answered the ping; that pong is what the client gets.
    seen, received = wire.from_server()
    assert [(s.kind, s.dir, s.data) for s in seen] == [("pong", UPSTREAM, b"p1")]
    assert _frames(received) == [(Opcode.PONG, b"p1")]


def test_close_code_and_reason_cross_both_ways_as_sent() -> None:
    wire = connected()
    wire.server.send_close(4001, "limit reached")
    [seen], [frame] = wire.from_server()
    assert (seen.kind, seen.dir, seen.code, seen.reason) == (
        "close",
        UPSTREAM,
        4001,
        "limit reached",
    )
    assert Close.parse(frame.data) == Close(4001, "limit reached")
    # The client's answer (websockets echoes the code) goes back the same way.
    [answer], [frame] = wire.from_client()
    assert (answer.kind, answer.dir, answer.code) == ("close", CLIENT, 4001)
    assert Close.parse(frame.data).code == 4001
    # Both ends, after both close frames: a closing handshake, no drop.
    assert wire.reader.eof(UPSTREAM) == []
    assert wire.reader.eof(CLIENT) == []
    assert wire.reader.finished
    assert not wire.reader.gone


def test_fragmented_message_stays_fragmented_and_is_seen_whole() -> None:
    wire = connected()
    wire.client.send_text(b'{"type":', fin=False)
    wire.client.send_continuation(b'"response.create"}', fin=True)
    seen, received = wire.from_client()
    assert [(s.kind, s.text) for s in seen] == [("text", '{"type":"response.create"}')]
    assert [(f.opcode, f.fin) for f in received] == [(Opcode.TEXT, False), (Opcode.CONT, True)]


def test_compression_the_upstream_accepts_is_the_clients_and_is_read() -> None:
    wire = connected(
        client_extensions=[ClientPerMessageDeflateFactory()],
        server_extensions=[ServerPerMessageDeflateFactory()],
    )
    assert [e.name for e in wire.client.extensions] == ["permessage-deflate"]
    assert [e.name for e in wire.server.extensions] == ["permessage-deflate"]
    text = '{"type":"response.output_text.delta","delta":"' + "abc" * 400 + '"}'
    for _ in range(2):  # the second message is compressed with the first one's context
        wire.server.send_text(text.encode())
        [seen], [frame] = wire.from_server()
        assert seen.text == text
        assert bytes(frame.data).decode() == text
    wire.client.send_text(b'{"type":"response.create"}')
    [seen], _ = wire.from_client()
    assert seen.text == '{"type":"response.create"}'


def test_compression_the_upstream_refuses_is_refused_to_the_client_too() -> None:
    wire = connected(client_extensions=[ClientPerMessageDeflateFactory()])
    assert wire.client.extensions == []
    assert wire.server.extensions == []
    assert "Sec-WebSocket-Extensions" in wire.request.headers  # it was offered upstream


def test_no_compression_offers_none_upstream() -> None:
    wire = connected(client_extensions=[ClientPerMessageDeflateFactory()], compression=False)
    assert "Sec-WebSocket-Extensions" not in wire.request.headers
    assert wire.client.extensions == []


def test_side_ending_its_stream_without_a_closing_handshake_is_a_drop() -> None:
    wire = connected()
    wire.server.send_text(b'{"type":"response.created"}')
    wire.from_server()
    [gone] = wire.reader.eof(UPSTREAM)
    assert (gone.kind, gone.dir, gone.code) == ("gone", UPSTREAM, 1006)
    assert wire.reader.eof(CLIENT) == []  # one drop per connection


def test_side_ending_its_stream_after_its_own_close_frame_is_no_drop() -> None:
    """RFC 6455 section 7.1.7: a side that fails the connection (a 1007 for text that is not
    UTF-8) sends its close frame and may end the TCP connection before the answer."""
    wire = connected()
    wire.server.send_close(1007, "invalid start byte")
    wire.from_server()
    assert wire.reader.eof(UPSTREAM) == []
    [answer], _ = wire.from_client()  # the client's close still crosses, and is read
    assert (answer.kind, answer.code) == ("close", 1007)
    assert wire.reader.eof(CLIENT) == []
    assert not wire.reader.gone


def test_binary_message_is_seen_as_bytes() -> None:
    wire = connected()
    wire.client.send_binary(b"\x00\x01\x02")
    [seen], received = wire.from_client()
    assert (seen.kind, seen.data) == ("binary", b"\x00\x01\x02")
    assert _frames(received) == [(Opcode.BINARY, b"\x00\x01\x02")]


def test_bytes_the_reader_cannot_read_are_reported_once_and_read_no_more() -> None:
    reader = Reader(max_size=1024)
    # An unmasked frame from a client breaks RFC 6455 (section 5.1).
    [unread] = reader.data(CLIENT, Frame(Opcode.TEXT, b"{}").serialize(mask=False))
    assert unread.kind == "unread"
    assert unread.note is not None
    assert "cannot read the client's frames" in unread.note
    assert reader.data(CLIENT, Frame(Opcode.TEXT, b"{}").serialize(mask=True)) == []


def test_message_above_the_readers_limit_is_not_read_but_still_crosses() -> None:
    reader = Reader(max_size=16)
    [unread] = reader.data(UPSTREAM, Frame(Opcode.TEXT, b"x" * 64).serialize(mask=False))
    assert unread.kind == "unread"
    assert "PayloadTooBig" in (unread.note or "")


def test_message_after_a_close_is_seen_as_it_crossed() -> None:
    reader = Reader()
    reader.data(CLIENT, Frame(Opcode.CLOSE, Close(1000, "").serialize()).serialize(mask=True))
    [late] = reader.data(CLIENT, Frame(Opcode.TEXT, b"{}").serialize(mask=True))
    assert (late.kind, late.text) == ("text", "{}")
