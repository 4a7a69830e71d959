"""Peer script: two named lanes at once with the ``openai`` SDK's lane helper.

``AsyncResponsesWebSocketSession`` registers lanes ``alpha`` and ``beta`` on one connection; the
script sends a ``response.create`` on each without waiting and consumes both lanes concurrently,
one consumer per lane as the helper requires. The runs ask for texts of different lengths in many
deltas and ``rws:delay`` between events, so a multiplexing server interleaves them on the wire
(RWS-LANE-4) and the helper must route every event by ``stream_id`` (RWS-CLIENT-6). A second
round continues each lane from its own first response with ``rws:context`` (the lane's cached
entry, RWS-CACHE-1/2), again concurrently.

The report carries what each lane received (typed events turned back into dicts) and the global
arrival order of raw messages, so the test can check routing and interleaving separately.
"""

from __future__ import annotations

import asyncio
from typing import Any

from openai.lib.responses_websocket import (  # type: ignore[import-not-found]
    AsyncResponsesWebSocketSession,
    ResponsesWebSocketLimits,
)

from tests.peers.scripts._common import async_client, dump, env, record_arrivals, tap_wire

__all__ = ["LANES", "main"]

# lane id -> (text length, delta count) of its first run
LANES: dict[str, tuple[int, int]] = {"alpha": (90, 30), "beta": (60, 20)}

_LIMITS = ResponsesWebSocketLimits(
    max_lanes=4,
    max_events_per_lane=512,
    max_events=1024,
    max_bytes_per_lane=4 * 1024 * 1024,
    max_bytes=8 * 1024 * 1024,
)


async def _consume(lane: Any) -> dict[str, Any]:
    """Read one run from ``lane`` to its terminal event, then collect the final response."""
    events: list[dict[str, Any]] = []
    while True:
        event = await lane.recv()
        events.append(event.to_dict())
        if event.type in {"response.completed", "response.incomplete", "response.failed", "error"}:
            break
    final = await lane.get_final_response()
    return {
        "events": events,
        "final_id": final.id,
        "final_output_text": final.output_text,
        "final_output": [item.to_dict() for item in final.output],
        "final_usage": final.usage.to_dict() if final.usage is not None else None,
    }


async def _round(lanes: dict[str, Any], creates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    for name, create in creates.items():
        await lanes[name].send(create)
    results = await asyncio.gather(*(_consume(lanes[name]) for name in creates))
    return dict(zip(creates, results, strict=True))


async def _main() -> dict[str, Any]:
    e = env()
    wire = tap_wire()
    async with async_client(e) as sdk, sdk.responses.connect() as connection:
        arrivals = record_arrivals(connection)
        async with AsyncResponsesWebSocketSession(connection, limits=_LIMITS) as session:
            lanes = {name: session.lane(name) for name in LANES}
            first_inputs = {
                name: f"lane {name}\nrws:text length={length} chunks={chunks}\nrws:delay ms=2"
                for name, (length, chunks) in LANES.items()
            }
            first = await _round(
                lanes,
                {
                    name: {
                        "type": "response.create",
                        "model": e.model,
                        "store": False,
                        "input": first_inputs[name],
                    }
                    for name in LANES
                },
            )
            first_count = len(arrivals)
            second_inputs = {name: f"lane {name} again\nrws:context" for name in LANES}
            second = await _round(
                lanes,
                {
                    name: {
                        "type": "response.create",
                        "model": e.model,
                        "store": False,
                        "previous_response_id": first[name]["final_id"],
                        "input": second_inputs[name],
                    }
                    for name in LANES
                },
            )
    return {
        "first_inputs": first_inputs,
        "second_inputs": second_inputs,
        "first": first,
        "second": second,
        "arrivals": arrivals,
        "first_round_arrivals": first_count,
        "wire": wire,
    }


def main() -> None:
    """Run both rounds and print what was seen."""
    dump(asyncio.run(_main()))


if __name__ == "__main__":
    main()
