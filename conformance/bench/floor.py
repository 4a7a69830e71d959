"""The floor of ``responses-ws bench``: what one message exchange costs before protocol work.

Round trips through the raw ``websockets`` echo server (:mod:`conformance.bench.echo`): the
*hot* floor, echoes back to back, and the *loop-shaped* floor, each echo of a continuation
request after a recorded turn's stream of events and the client's gap between turns, as a
continuation of the tool loop meets the server (definitions in :mod:`conformance.bench.measure`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conformance.bench import fixture
from conformance.bench.client import BenchError, Connection
from conformance.bench.echo import stream_request
from conformance.bench.servers import Endpoint, cpu_seconds
from conformance.bench.stats import median, summary

__all__ = ["TurnShape", "echo_loop_shaped", "echo_round_trips", "turn_shape"]


async def echo_round_trips(endpoint: Endpoint, size: int, round_trips: int) -> dict[str, Any]:
    """The hot floor: ``round_trips`` echoes of a ``size``-byte message, back to back."""
    conn = await Connection.open(endpoint.url, "")
    message = "x" * size
    try:
        for _ in range(50):  # warm-up
            await conn.send_text(message)
            await conn.recv_text()
        samples = []
        cpu = cpu_seconds(endpoint.pid)
        for _ in range(round_trips):
            sent = await conn.send_text(message)
            await conn.recv_text()
            samples.append((time.perf_counter() - sent) * 1e6)
        cpu = cpu_seconds(endpoint.pid) - cpu
    finally:
        await conn.close()
    return {
        "message_bytes": size,
        "server_cpu_us": cpu / round_trips * 1e6,
        **{f"{k}_us" if k != "n" else k: v for k, v in summary(samples).items()},
    }


@dataclass(frozen=True)
class TurnShape:
    """One continuation turn of the tool loop as recorded: what the server sent, and how long
    the client took from the last event of a turn to sending the next request."""

    events: tuple[str, ...]  # the text of each server event of the turn, in order
    client_gap_s: float  # p50 over the recorded turns: last event received -> next request sent

    @property
    def messages(self) -> int:
        """How many messages the turn sends."""
        return len(self.events)

    @property
    def mean_bytes(self) -> int:
        """Their mean size in UTF-8 bytes, rounded."""
        return round(sum(len(text.encode()) for text in self.events) / len(self.events))


def turn_shape(transcript: Sequence[dict[str, Any]], turn: int = 2) -> TurnShape:
    """The server events of ``turn`` (1-based) of the tool loop recorded on connection ``c1``,
    and the client's gap before each of its requests after the first (their median).

    Turn 2 is the first continuation: like every later one but the last, it ends with a
    function call, the shape of the turns the continuation overhead is measured on.
    """
    turns: list[list[str]] = []
    gaps: list[float] = []
    last_event: float | None = None
    for record in transcript:
        if record.get("conn") != "c1" or record.get("kind") != "text":
            continue
        if record.get("dir") == "c2s":
            if last_event is not None:
                gaps.append(float(record["ts"]) - last_event)
            turns.append([])
            last_event = None
        elif turns:
            turns[-1].append(str(record["text"]))
            last_event = float(record["ts"])
    if len(turns) < turn or not turns[turn - 1]:
        raise BenchError(f"the recorded tool loop has no server events for turn {turn}")
    if not gaps:
        raise BenchError("the recorded tool loop has no continuation request")
    return TurnShape(tuple(turns[turn - 1]), max(0.0, median(gaps)))


async def echo_loop_shaped(
    endpoint: Endpoint, shape: TurnShape, round_trips: int
) -> dict[str, Any]:
    """The loop-shaped floor (see the module docstring): each timed echo of a continuation
    request follows a stream of a turn's messages and the client's work between turns."""
    conn = await Connection.open(endpoint.url, "")
    stream = stream_request(shape.messages, 0, shape.mean_bytes)
    created = json.loads(shape.events[0])
    previous = str(created["response"]["id"])
    samples = []
    size = 0
    try:
        for index in range(20 + round_trips):  # the first 20: warm-up
            await conn.send_text(stream)
            call_id = "call_" + "0" * 24
            last = 0.0
            for text in shape.events:
                await conn.recv_text()
                last = time.perf_counter()  # as the transcript's time of a received event
                # What run_turn does with each event of a turn: parse it, keep its items.
                item = json.loads(text).get("item")
                if isinstance(item, dict) and item.get("type") == "function_call":
                    call_id = str(item["call_id"])
            # What the tool loop does between two turns: the tool's output, the next request
            # (turn 3's: the recorded turn is turn 2), encoded as send_event encodes it.
            output = fixture.tool_output(2, call_id)
            text = json.dumps(
                fixture.create_event("a", 3, previous, [output]), separators=(",", ":")
            )
            # The server sits idle until the next request, and how long matters: the longer
            # it idles, the slower it wakes up. The client here does the loop's work, but the
            # loop's client takes longer (its bookkeeping, its collector): it sends no sooner
            # than the recorded loop's client did, busy meanwhile as that client is.
            deadline = last + shape.client_gap_s
            while time.perf_counter() < deadline:
                pass
            before = conn.count.payload
            sent = await conn.send_text(text)
            size = conn.count.payload - before
            await conn.recv_text()
            if index >= 20:
                samples.append((time.perf_counter() - sent) * 1e6)
    finally:
        await conn.close()
    return {
        "message_bytes": size,
        "stream_messages": shape.messages,
        "stream_message_bytes": shape.mean_bytes,
        "client_gap_us": shape.client_gap_s * 1e6,
        **{f"{k}_us" if k != "n" else k: v for k, v in summary(samples).items()},
    }
