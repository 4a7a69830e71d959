"""The tool-loop fixture: what a coding agent sends over 20 turns, fixed and deterministic.

It follows the synthetic agent loop of the performance research note (section A3): about
4.8 KB of instructions, 8 function tools and about 2 KB of tool output per turn. The model is
``conformance-1`` and turn 1 carries ``rws:loop calls=N-1 ...`` so that turns 1..N-1 each end
with one ``function_call`` and turn N with the message ``loop done after N-1 calls``: N turns
are N ``response.create`` requests.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "INSTRUCTIONS",
    "MODEL",
    "TOOLS",
    "create_event",
    "first_user_message",
    "text_pattern",
    "tool_output",
]

MODEL = "conformance-1"

_PATTERN = "The quick brown fox jumps over the lazy dog. "


def text_pattern(length: int) -> str:
    """``length`` characters of the conformance model's text pattern (appendix A.3)."""
    repeats = length // len(_PATTERN) + 1
    return (_PATTERN * repeats)[:length]


#: About 4.8 KB of system instructions, resent with every request that needs them (the spec:
#: instructions are not carried over between responses).
INSTRUCTIONS = "You are a careful coding agent. " + text_pattern(4800 - 32)


def _tool(index: int) -> dict[str, Any]:
    return {
        "type": "function",
        "name": f"tool_{index}",
        "description": f"Tool number {index}: " + text_pattern(180),
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "file path relative to the root"},
                "start": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
        "strict": True,
    }


#: Eight function tools, sent per request (tools are per request over WebSocket too).
TOOLS: list[dict[str, Any]] = [_tool(i) for i in range(8)]


def first_user_message(calls: int) -> dict[str, Any]:
    """The turn-1 user message: a short task plus the loop directive."""
    arguments = json.dumps({"path": "src/module.py", "start": 0, "limit": 200})
    text = (
        "Fix the failing test in src/module.py and explain the change.\n"
        f"rws:loop calls={calls} name=tool_0 arguments={arguments}"
    )
    return {"type": "message", "role": "user", "content": text}


def tool_output(turn: int, call_id: str) -> dict[str, Any]:
    """The ``function_call_output`` the client sends after turn ``turn``: about 2 KB."""
    body = f"--- src/module.py (turn {turn}) ---\n" + text_pattern(2000 - 32)
    return {"type": "function_call_output", "call_id": call_id, "output": body}


def create_event(
    mode: str, turn: int, previous: str | None, new_items: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``response.create`` of ``turn`` (1-based) of the tool loop in ``mode`` (the modes of
    :mod:`conformance.bench.measure`)."""
    event: dict[str, Any] = {
        "type": "response.create",
        "model": MODEL,
        "store": mode == "c",
    }
    if mode != "a_lean" or turn == 1:
        event["instructions"] = INSTRUCTIONS
        event["tools"] = TOOLS
    if previous is not None and mode != "b":
        event["previous_response_id"] = previous
    event["input"] = new_items
    return event
