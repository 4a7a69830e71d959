"""Peer script: the connection-age limit met by the ``openai`` SDK (run against a server whose
``max-connection-age`` is about one second).

On the first connection the script starts a ``store: false`` run that takes longer than the
age limit (``rws:delay``), and once the limit has surely passed it sends a second
``response.create``. The server must let the started run finish (RWS-LIMIT-2), answer the late
request with ``websocket_connection_limit_reached`` (RWS-LIMIT-1), and close with 1001. The SDK's
event iterator must deliver all of it and end cleanly on the 1001 close.

Then the script does what RWS-CLIENT-5 asks of a client: on a new connection it first tries the
old ``previous_response_id`` (a ``store: false`` response is gone with its connection:
``previous_response_not_found``, RWS-CACHE-8), then resends the full context, which works.
"""

from __future__ import annotations

from typing import Any

from tests.peers.scripts._common import client, dump, env, output_text, run_turn, tap_wire

__all__ = ["LATE_AFTER_DELTAS", "LONG_INPUT", "NEXT_INPUT", "main"]

# 20 deltas 75 ms apart: the run lasts well over the one-second age limit.
LONG_INPUT = "a long turn\nrws:text length=20 chunks=20\nrws:delay ms=75"
# The late create goes out after this many deltas: more than one second after the handshake
# even on a fast machine (each delta comes at least 75 ms after the previous event).
LATE_AFTER_DELTAS = 15
LATE_INPUT = "too late\nrws:text length=5"
NEXT_INPUT = "after the limit\nrws:context"


def main() -> None:
    """Meet the limit, reconnect, continue, and print what was seen."""
    e = env()
    wire = tap_wire()
    sdk = client(e)
    aged: dict[str, Any] = {"classes": [], "types": []}
    with sdk.responses.connect() as connection:
        connection.response.create(model=e.model, store=False, input=LONG_INPUT)
        deltas = 0
        # The SDK's own iterator: it ends quietly when the server closes with 1000/1001.
        for event in connection:
            aged["classes"].append(type(event).__name__)
            aged["types"].append(event.type)
            if event.type == "response.output_text.delta":
                deltas += 1
                if deltas == LATE_AFTER_DELTAS:
                    connection.response.create(model=e.model, store=False, input=LATE_INPUT)
            if event.type == "error":
                aged["sdk_error_code"] = event.error.code
    first_items = [
        r["event"]["item"]
        for r in wire
        if r["conn"] == 0 and "event" in r and r["event"].get("type") == "response.output_item.done"
    ]
    first_id = next(
        r["event"]["response"]["id"]
        for r in wire
        if "event" in r and r["event"].get("type") == "response.completed"
    )
    with sdk.responses.connect() as connection:
        raw_lost, _ = run_turn(
            connection,
            model=e.model,
            store=False,
            previous_response_id=first_id,
            input=NEXT_INPUT,
        )
        # RWS-CLIENT-5: continue a store=false chain on the new connection by resending it.
        full_context = [
            {"type": "message", "role": "user", "content": LONG_INPUT},
            *first_items,
            {"type": "message", "role": "user", "content": NEXT_INPUT},
        ]
        raw_resent, _ = run_turn(connection, model=e.model, store=False, input=full_context)
    dump(
        {
            "aged": aged,
            "first_items": first_items,
            "lost": {"types": raw_lost.types(), "terminal": raw_lost.terminal()},
            "resent": {
                "input": full_context,
                "types": raw_resent.types(),
                "text": output_text(raw_resent.items_done()),
                "terminal": raw_resent.terminal(),
            },
            "wire": wire,
        }
    )


if __name__ == "__main__":
    main()
