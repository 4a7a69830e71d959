"""Peer script: a ``generate: false`` warm-up, then a generating turn chained on its id.

Follows the ``openai`` SDK's own recipe for warm-up (its ``responses_websocket`` README): build a
``ResponseCreate`` event with ``generate=False``, send it through a lane of
``ResponsesWebSocketSession`` and collect it with ``lane.get_final_response()``, then use that
response's id as ``previous_response_id`` of the next create. The warm-up input carries an item
directive that ``generate: false`` must ignore; the chained turn asks for ``rws:context`` so the
model reports the context it restored (the warm-up's input, RWS-CACHE-10).
"""

from __future__ import annotations

from typing import Any

from openai.lib.responses_websocket import (  # type: ignore[import-not-found]
    ResponsesWebSocketLimits,
    ResponsesWebSocketSession,
)
from openai.types.responses.responses_client_event import (  # type: ignore[import-not-found]
    ResponseCreate,
)

from tests.peers.scripts._common import client, dump, env, output_text, record_arrivals, tap_wire

__all__ = ["CHAINED_INPUT", "WARMUP_INPUT", "main"]

WARMUP_INPUT = "warm-up: prepare only\nrws:text length=40"
CHAINED_INPUT = "now answer\nrws:context"

_LIMITS = ResponsesWebSocketLimits(
    max_lanes=4,
    max_events_per_lane=256,
    max_events=512,
    max_bytes_per_lane=4 * 1024 * 1024,
    max_bytes=8 * 1024 * 1024,
)


def _response_report(response: Any) -> dict[str, Any]:
    return {
        "id": response.id,
        "status": response.status,
        "output": [item.to_dict() for item in response.output],
        "output_text": response.output_text,
        "usage": response.usage.to_dict() if response.usage is not None else None,
    }


def main() -> None:
    """Warm up, chain, and print what was seen."""
    e = env()
    wire = tap_wire()
    with client(e).responses.connect() as connection:
        arrivals = record_arrivals(connection)
        with ResponsesWebSocketSession(connection, limits=_LIMITS) as session:
            lane = session.default
            lane.send(
                ResponseCreate(
                    type="response.create",
                    model=e.model,
                    store=False,
                    generate=False,
                    input=WARMUP_INPUT,
                )
            )
            warmup = lane.get_final_response(timeout=15)
            warmup_events = list(arrivals)
            lane.send(
                {
                    "type": "response.create",
                    "model": e.model,
                    "store": False,
                    "previous_response_id": warmup.id,
                    "input": CHAINED_INPUT,
                }
            )
            chained = lane.get_final_response(timeout=15)
            chained_events = arrivals[len(warmup_events) :]
    chained_items = [
        ev["item"] for ev in chained_events if ev.get("type") == "response.output_item.done"
    ]
    dump(
        {
            "warmup": {
                "input": WARMUP_INPUT,
                "types": [ev.get("type") for ev in warmup_events],
                "events": warmup_events,
                "sdk": _response_report(warmup),
            },
            "chained": {
                "input": CHAINED_INPUT,
                "types": [ev.get("type") for ev in chained_events],
                "items": chained_items,
                "text": output_text(chained_items),
                "terminal": chained_events[-1] if chained_events else None,
                "sdk": _response_report(chained),
            },
            "wire": wire,
        }
    )


if __name__ == "__main__":
    main()
