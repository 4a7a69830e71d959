"""The adapter contract's environment, shared by the Python adapters shipped here.

Standard library only: the SDK adapters run with the peers interpreter, which does not have
this project installed, so they load this file by path (it has no imports from the project).
See docs/client-adapters.md for the contract itself.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EXIT_FAILED",
    "EXIT_UNSUPPORTED",
    "RECONNECT_CODES",
    "Task",
    "http_base_url",
    "print_result",
    "read_task",
    "tool_result",
    "tool_schema",
]

EXIT_FAILED = 1
EXIT_UNSUPPORTED = 3
# RWS-ERR-7: reconnect automatically only after these close codes (1006: no close frame).
RECONNECT_CODES = frozenset({1001, 1006, 1011, 1012, 1013})


@dataclass(frozen=True)
class Task:
    """What the scenario asks the client to do (RWS_* environment variables)."""

    url: str
    api_key: str
    model: str
    scenario: str
    task: str
    prompts: list[str]
    store: bool
    tool: str
    history: list[dict[str, Any]]
    previous_response_id: str | None
    lanes: list[str]
    # steer task: per prompt, the text to steer its first response with (None: not steered)
    steers: list[str | None]

    def steer_for(self, prompt_index: int) -> str | None:
        """The steering input of the prompt at this index, if it has one."""
        return self.steers[prompt_index] if prompt_index < len(self.steers) else None


def read_task() -> Task:
    """Read the contract's environment."""
    env = os.environ
    return Task(
        url=env["RWS_URL"],
        api_key=env["RWS_API_KEY"],
        model=env.get("RWS_MODEL", "conformance-1"),
        scenario=env.get("RWS_SCENARIO", ""),
        task=env.get("RWS_TASK", "conversation"),
        prompts=list(json.loads(env.get("RWS_PROMPTS", "[]"))),
        store=env.get("RWS_STORE", "false") == "true",
        tool=env.get("RWS_TOOL", "lookup"),
        history=list(json.loads(env.get("RWS_HISTORY", "[]"))),
        previous_response_id=env.get("RWS_PREVIOUS_RESPONSE_ID") or None,
        lanes=list(json.loads(env.get("RWS_LANES", "[]"))),
        steers=[s if isinstance(s, str) else None for s in json.loads(env.get("RWS_STEERS", "[]"))],
    )


def tool_result(arguments: str) -> str:
    """The contract's ``lookup`` tool: ``{"q": Q}`` -> ``result:Q``."""
    return "result:" + str(json.loads(arguments)["q"])


def tool_schema(name: str) -> dict[str, Any]:
    """The ``lookup`` function tool as a Responses API tool definition."""
    return {
        "type": "function",
        "name": name,
        "description": "Look a query up.",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
            "additionalProperties": False,
        },
        "strict": True,
    }


def http_base_url(ws_url: str) -> str:
    """``ws://host:port/v1/responses`` -> ``http://host:port/v1`` (what SDKs take as base URL;
    they derive the WebSocket URL from it)."""
    base = ws_url.removesuffix("/responses")
    if base.startswith("wss://"):
        return "https://" + base.removeprefix("wss://")
    return "http://" + base.removeprefix("ws://")


def print_result(texts: list[str], *, lanes: bool) -> None:
    """The contract's result: one JSON line, last on stdout."""
    payload = {"texts": texts} if lanes else {"text": texts[-1] if texts else ""}
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()
