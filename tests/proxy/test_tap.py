"""The events from the proxy's I/O to its judge survive the pipe, in any chunking (sans-I/O)."""

from __future__ import annotations

import pytest

from conformance.proxy.tap import Decoder, Event, LocalTap, TapProtocolError, encode

_EVENTS = [
    Event("open", 1, 0.5, info={"target": "/v1/responses", "status": 101, "note": None}),
    Event("data", 1, 0.75, "c2s", b'\x81\x85{"a":1}'),
    Event("data", 1, 1.0, "s2c", bytes(range(256)) * 300),
    Event("eof", 1, 1.25, "s2c"),
    Event("end", 1, 1.5),
]


@pytest.mark.parametrize("chunk", [1, 7, 18, 4096, 1 << 20])
def test_events_decode_as_encoded_whatever_the_chunks(chunk: int) -> None:
    stream = b"".join(encode(e) for e in _EVENTS)
    decoder = Decoder()
    decoded: list[Event] = []
    for start in range(0, len(stream), chunk):
        decoded.extend(decoder.feed(stream[start : start + chunk]))
    assert decoded == _EVENTS
    assert decoder.pending == 0


def test_bytes_that_are_no_event_are_refused() -> None:
    with pytest.raises(TapProtocolError, match="bad event header"):
        Decoder().feed(b"\xff" * 32)


def test_local_tap_judges_in_order_only_once_flushed() -> None:
    judged: list[Event] = []
    tap = LocalTap(judged.append)
    for event in _EVENTS:
        tap.tell(event)
    assert judged == []  # told before the bytes are forwarded; judged after
    tap.flush()
    assert judged == _EVENTS
