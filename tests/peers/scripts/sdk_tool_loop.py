"""Peer script: a client-side tool-calling loop with the ``openai`` SDK.

The user message carries ``rws:loop calls=3 name=lookup arguments={"q":"x"}``: the conformance
model answers with one ``function_call`` while fewer than three ``function_call_output`` items
follow the user message, then with the text ``loop done after 3 calls``. The script plays the
application: it executes every call locally and continues with ``previous_response_id`` plus only
the ``function_call_output`` (RWS-CLIENT-1), the way the SDK's tool-turn recipe does.
"""

from __future__ import annotations

import json
from typing import Any

from tests.peers.scripts._common import client, dump, env, output_text, run_turn, tap_wire

__all__ = ["LOOP_INPUT", "TOOLS", "lookup", "main"]

LOOP_INPUT = 'look something up\nrws:loop calls=3 name=lookup arguments={"q":"x"}'

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look a word up.",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]

# A runaway loop must end the script, not hang the test.
_MAX_TURNS = 8


def lookup(q: str, n: int) -> str:
    """The local tool: a deterministic answer naming the query and the call number."""
    return json.dumps({"q": q, "answer": f"result {n} for {q}"})


def main() -> None:
    """Drive the loop to its final text and print what was seen."""
    e = env()
    wire = tap_wire()
    turns: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    with client(e).responses.connect() as connection:
        create: dict[str, Any] = {"input": LOOP_INPUT}
        for _ in range(_MAX_TURNS):
            raw, typed = run_turn(connection, model=e.model, store=False, tools=TOOLS, **create)
            items = raw.items_done()
            # The SDK's typed view of the same items: what an application would act on.
            sdk_calls = [
                ev.item
                for ev in typed
                if ev.type == "response.output_item.done" and ev.item.type == "function_call"
            ]
            response = getattr(typed[-1], "response", None)
            turns.append(
                {
                    "input": create["input"],
                    "previous_response_id": create.get("previous_response_id"),
                    "types": raw.types(),
                    "items": items,
                    "text": output_text(items),
                    "terminal": raw.terminal(),
                    "sdk_output_text": getattr(response, "output_text", None),
                }
            )
            if response is None or not sdk_calls:
                break
            outputs = []
            for call in sdk_calls:
                arguments = json.loads(call.arguments)
                result = lookup(arguments["q"], len(calls) + 1)
                calls.append(
                    {
                        "name": call.name,
                        "arguments": call.arguments,
                        "call_id": call.call_id,
                        "output": result,
                    }
                )
                outputs.append(
                    {"type": "function_call_output", "call_id": call.call_id, "output": result}
                )
            create = {"previous_response_id": response.id, "input": outputs}
    dump({"turns": turns, "calls": calls, "wire": wire})


if __name__ == "__main__":
    main()
