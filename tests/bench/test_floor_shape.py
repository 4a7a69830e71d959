"""The loop-shaped echo floor's inputs: the shape of a recorded turn, and which floor the
continuation-overhead target divides by. No server, no timing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.bench.client import BenchError
from conformance.bench.floor import turn_shape
from conformance.bench.report import overhead_floor_us

__all__: list[str] = []


def _text(conn: str, direction: str, text: str, ts: float = 0.0) -> dict[str, Any]:
    return {"ts": ts, "conn": conn, "kind": "text", "dir": direction, "text": text}


def _event(kind: str, pad: int = 0) -> str:
    return json.dumps({"type": kind, "pad": "x" * pad})


def test_turn_shape_is_the_server_events_of_that_turn_on_the_loop_connection() -> None:
    turn_1 = [_event("response.created", 10), _event("response.completed", 10)]
    turn_2 = [_event("response.created", 100), _event("a"), _event("response.completed", 200)]
    transcript = [
        {"ts": 0.0, "conn": "c1", "kind": "open", "url": "ws://x", "status": 101},
        _text("c1", "c2s", "{}"),
        *(_text("c1", "s2c", t) for t in turn_1),
        _text("c1", "c2s", "{}"),
        *(_text("c1", "s2c", t) for t in turn_2),
        # Another connection's messages are not the loop's.
        _text("c2", "c2s", "{}"),
        _text("c2", "s2c", _event("response.created", 5000)),
        _text("c1", "c2s", "{}"),
        _text("c1", "s2c", _event("response.created")),
    ]
    shape = turn_shape(transcript)
    assert shape.events == tuple(turn_2)
    assert shape.messages == 3
    assert shape.mean_bytes == round(sum(len(t.encode()) for t in turn_2) / 3)
    assert turn_shape(transcript, 1).events == tuple(turn_1)


def test_client_gap_is_the_median_wait_from_a_turns_last_event_to_the_next_request() -> None:
    created = _event("response.created")
    transcript = [
        _text("c1", "c2s", "{}", 0.0),
        _text("c1", "s2c", created, 1.0),
        _text("c1", "s2c", created, 2.0),
        _text("c2", "s2c", created, 2.5),  # another connection's
        _text("c1", "c2s", "{}", 2.25),  # 0.25 after turn 1's last event
        _text("c1", "s2c", created, 3.0),
        _text("c1", "c2s", "{}", 4.0),  # 1.0
        _text("c1", "s2c", created, 5.0),
        _text("c1", "c2s", "{}", 5.5),  # 0.5
        _text("c1", "s2c", created, 6.0),
    ]
    assert turn_shape(transcript).client_gap_s == 0.5


def test_turn_shape_without_that_turn_is_a_clear_error() -> None:
    transcript = [_text("c1", "c2s", "{}"), _text("c1", "s2c", _event("response.created"))]
    with pytest.raises(BenchError, match="turn 2"):
        turn_shape(transcript)
    with pytest.raises(BenchError, match="turn 1"):
        turn_shape([_text("c1", "c2s", "{}")], 1)
    # One turn and no continuation request: no gap to copy.
    with pytest.raises(BenchError, match="no continuation request"):
        turn_shape(transcript, 1)


def test_the_overhead_target_divides_by_the_loop_shaped_floor() -> None:
    floor = {"request": {"p50_us": 100.0}, "request_loop_shaped": {"p50_us": 130.0}}
    assert overhead_floor_us({"floor": {"asyncio": floor, "trio": {}}}) == 130.0
    # A report made before the loop-shaped floor was measured: the hot floor, as it was.
    assert overhead_floor_us({"floor": {"asyncio": {"request": {"p50_us": 100.0}}}}) == 100.0
