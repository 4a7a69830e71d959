"""Peer script: a client that falls back from WebSocket mode to HTTP, as Codex does.

It runs the same tool loop as ``sdk_tool_loop`` (three ``function_call`` turns, then text),
sending each turn over a WebSocket while it has one (``client.responses.connect()``) and over
``client.responses.create(stream=True)`` once it has given up on the WebSocket:

- ``refused``: the upgrade is refused (the server under test requires a header this client
  does not send); after three attempts the whole loop runs over HTTP, chaining each turn by
  ``previous_response_id`` (``store: true``: over HTTP a continuation comes from storage);
- ``dropped``: the first turn goes over the WebSocket, which is then lost; the loop goes on
  over HTTP with the ``previous_response_id`` of the WebSocket turn, which the server hydrates;
- ``dropped-unstored``: the same with ``store: false``: over HTTP the previous response is not
  found, and the client resends the whole context, as RWS-CLIENT-2 asks.

Usage: ``sdk_fallback.py refused|dropped|dropped-unstored``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import openai  # type: ignore[import-not-found]

from tests.peers.scripts._common import client, dump, env, run_turn
from tests.peers.scripts.sdk_tool_loop import LOOP_INPUT, TOOLS, lookup

__all__ = ["main"]

_ATTEMPTS = 3
_MAX_TURNS = 8


class FallbackClient:
    """Turns over a WebSocket while there is one, then over HTTP for good."""

    def __init__(self, sdk: Any, model: str, store: bool) -> None:
        self.sdk = sdk
        self.model = model
        self.store = store
        self.connection: Any = None
        self.manager: Any = None
        self.attempts = 0
        self.transports: list[str] = []

    def open(self) -> None:
        """Try the WebSocket (three times, as Codex does), else stay on HTTP."""
        while self.attempts < _ATTEMPTS:
            self.attempts += 1
            manager = self.sdk.responses.connect()
            try:
                self.connection = manager.__enter__()
            except Exception:  # the upgrade was refused (the SDK raises websockets' error)
                continue
            self.manager = manager
            return

    def drop(self) -> None:
        """The WebSocket is lost; the client does not reconnect."""
        if self.manager is not None:
            self.manager.__exit__(None, None, None)
        self.manager = self.connection = None
        self.attempts = _ATTEMPTS

    def turn(self, **create: Any) -> list[dict[str, Any]]:
        """One turn; the raw events (``error`` last when the request was refused)."""
        create = {"model": self.model, "store": self.store, "tools": TOOLS, **create}
        if self.connection is not None:
            self.transports.append("websocket")
            raw, _ = run_turn(self.connection, **create)
            return list(raw.events)
        self.transports.append("http")
        try:
            stream = self.sdk.responses.create(stream=True, **create)
            return [event.model_dump(mode="json") for event in stream]
        except openai.BadRequestError as exc:
            return [{"type": "error", "status": exc.status_code, "error": exc.body}]

    def close(self) -> None:
        if self.manager is not None:
            self.manager.__exit__(None, None, None)


def _items(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == "response.output_item.done"]


def main() -> None:
    """Run the loop in the mode named on the command line and print what happened."""
    mode = sys.argv[1]
    e = env()
    fallback = FallbackClient(client(e), e.model, store=mode != "dropped-unstored")
    fallback.open()
    history: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": LOOP_INPUT}]
    create: dict[str, Any] = {"input": LOOP_INPUT}
    turns: list[dict[str, Any]] = []
    calls = 0
    for _ in range(_MAX_TURNS):
        events = fallback.turn(**create)
        turns.append({"types": [ev["type"] for ev in events], "input": create["input"]})
        if events[-1]["type"] == "error":
            # RWS-CLIENT-2: the previous response is gone; resend the whole context.
            turns[-1]["error"] = events[-1]["error"]
            create = {"input": history}
            continue
        response = events[-1]["response"]
        items = _items(events)
        history += items
        if mode.startswith("dropped") and fallback.connection is not None:
            fallback.drop()
        outputs = []
        for item in items:
            if item["type"] == "function_call":
                calls += 1
                result = lookup(json.loads(item["arguments"])["q"], calls)
                outputs.append(
                    {"type": "function_call_output", "call_id": item["call_id"], "output": result}
                )
        if not outputs:
            turns[-1]["text"] = "".join(
                part.get("text", "")
                for item in items
                if item["type"] == "message"
                for part in item["content"]
            )
            break
        history += outputs
        create = {"input": outputs, "previous_response_id": response["id"]}
    fallback.close()
    dump(
        {
            "mode": mode,
            "attempts": fallback.attempts,
            "transports": fallback.transports,
            "turns": turns,
            "calls": calls,
        }
    )


if __name__ == "__main__":
    main()
