"""Peer script: three ``store: false`` turns on one connection with the ``openai`` SDK.

Each turn continues the previous one with ``previous_response_id`` and only the new input
(RWS-CLIENT-1), and asks the conformance model for ``rws:context``, so the model reports the
context it assembled. The three inputs use the three input shapes the appendix normalises
(a string, a message without ``type``, a message with ``input_text`` parts). The script only
observes; the test recomputes digests and token counts from the appendix rules.
"""

from __future__ import annotations

from typing import Any

from tests.peers.scripts._common import client, dump, env, output_text, run_turn, tap_wire

__all__ = ["INPUTS", "main"]

INPUTS: list[Any] = [
    "first turn\nrws:context",
    [{"role": "user", "content": "second turn\nrws:context"}],
    [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "third turn\n"},
                {"type": "input_text", "text": "rws:context"},
            ],
        }
    ],
]


def main() -> None:
    """Run the three turns and print what was seen."""
    e = env()
    wire = tap_wire()
    turns: list[dict[str, Any]] = []
    previous: str | None = None
    with client(e).responses.connect() as connection:
        for new_input in INPUTS:
            create: dict[str, Any] = {"model": e.model, "store": False, "input": new_input}
            if previous is not None:
                create["previous_response_id"] = previous
            raw, typed = run_turn(connection, **create)
            terminal = typed[-1]
            items = raw.items_done()
            response = getattr(terminal, "response", None)
            turns.append(
                {
                    "input": new_input,
                    "previous_response_id": previous,
                    "types": raw.types(),
                    "stream_ids": sorted({str(ev.get("stream_id")) for ev in raw.events}),
                    "items": items,
                    "text": output_text(items),
                    "terminal": raw.terminal(),
                    # What the SDK itself made of the run: its typed response helpers.
                    "sdk_id": getattr(response, "id", None),
                    "sdk_output_text": getattr(response, "output_text", None),
                    "sdk_cached_tokens": (
                        response.usage.input_tokens_details.cached_tokens
                        if response is not None and response.usage is not None
                        else None
                    ),
                }
            )
            previous = getattr(response, "id", None)
            if previous is None:
                break
    dump({"turns": turns, "wire": wire})


if __name__ == "__main__":
    main()
