"""Client adapter: the official ``openai`` SDK's WebSocket mode (``client.responses.connect()``).

Runs with the peers interpreter (``openai`` 3.x, ``websockets`` 15). What the SDK does itself
is left to it: the connection, event parsing, automatic reconnection and its backoff (enabled
the documented way, with an ``on_reconnecting`` handler), replaying messages queued while it
reconnects, and the lane helper (``AsyncResponsesWebSocketSession``) for the ``lanes`` task.
What the SDK leaves to the application is done here the way its docs and the specification
describe: continuing with ``previous_response_id`` and only new input, keeping the context
and resending it after ``previous_response_not_found`` or for a ``store: false`` chain on a
new connection, executing tool calls, retrying a turn whose run failed. So the suite judges
the SDK plus the thinnest correct application; where the SDK's own behaviour breaks a client
requirement, ``expected-failures/openai-sdk.yaml`` says so.

Run: ``python -m conformance.adapters.openai_sdk`` from the repository root.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI, OpenAI  # type: ignore[import-not-found]
from openai.lib.responses_websocket import (  # type: ignore[import-not-found]
    AsyncResponsesWebSocketSession,
    ResponsesWebSocketLimits,
)
from websockets.exceptions import ConnectionClosed

from conformance.adapters._contract import (
    EXIT_FAILED,
    EXIT_UNSUPPORTED,
    RECONNECT_CODES,
    Task,
    http_base_url,
    print_result,
    read_task,
    tool_result,
    tool_schema,
)

__all__ = ["main"]

_RUN_END = frozenset({"response.completed", "response.incomplete", "response.failed"})
MAX_RETRIES = 3
MAX_NEW_CONNECTIONS = 4


class Fatal(Exception):
    """The task cannot go on."""


def _dump(item: Any) -> dict[str, Any]:
    data: dict[str, Any] = item.to_dict() if hasattr(item, "to_dict") else dict(item)
    return data


def _wire(body: dict[str, Any]) -> dict[str, Any]:
    """The request as sent (without the application's bookkeeping)."""
    return {k: v for k, v in body.items() if k != "_new"}


@dataclass
class Conversation:
    """The application around the SDK's connection for the ``conversation`` task."""

    task: Task
    sdk: Any
    connection: Any = None
    manager: Any = None
    context: list[dict[str, Any]] = field(default_factory=list)
    # The request the application is waiting for, resent by the reconnect handler.
    pending: dict[str, Any] | None = None
    reconnected: bool = False
    new_connections: int = 0

    def open(self) -> None:
        """Open a connection with the SDK's automatic reconnection enabled."""
        self.manager = self.sdk.responses.connect(on_reconnecting=self.on_reconnecting)
        self.connection = self.manager.__enter__()

    def close(self) -> None:
        """Close the connection."""
        if self.manager is not None:
            self.manager.__exit__(None, None, None)
            self.manager = self.connection = None

    def on_reconnecting(self, event: Any) -> None:
        """The SDK is about to reconnect: queue the turn again (the SDK sends it first thing
        on the new connection). A store=false chain is gone with the old connection, so the
        turn goes with its full context (RWS-CLIENT-5)."""
        self.reconnected = True
        if self.pending is not None:
            body = self.full(self.pending) if not self.task.store else self.pending
            self.pending = body
            self.connection.response.create(**_wire(body))

    def full(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request with the full context instead of previous_response_id (RWS-CLIENT-2)."""
        out = {k: v for k, v in body.items() if k not in ("previous_response_id", "input")}
        out["input"] = self.context + body["_new"]
        out["_new"] = body["_new"]
        return out

    def send(self, body: dict[str, Any]) -> None:
        """Send a request; a connection the server closed between turns is replaced."""
        self.pending = body
        try:
            self.connection.response.create(**_wire(body))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            if code not in RECONNECT_CODES or self.new_connections >= MAX_NEW_CONNECTIONS:
                raise Fatal(f"connection closed with {code}") from exc
            # The SDK reconnects only while iterating; a close seen on send is the
            # application's to handle: a new connection, and the full context for store=false.
            self.new_connections += 1
            self.close()
            self.open()
            self.send(self.full(body) if not self.task.store else body)

    def turn(self, prev: str | None, new: list[dict[str, Any]]) -> Any:
        """One request to its completed response."""
        body: dict[str, Any] = {
            "model": self.task.model,
            "store": self.task.store,
            "tools": [tool_schema(self.task.tool)],
            "_new": new,
        }
        if prev is not None:
            # RWS-CLIENT-1: previous_response_id and only the new items.
            body["previous_response_id"] = prev
            body["input"] = new
        else:
            body["input"] = self.context + new
        self.send(body)
        retries = 0
        current: str | None = None
        for event in self.connection:
            if event.type == "response.created":
                current = event.response.id
                continue
            if event.type in _RUN_END and event.response.id != current:
                continue  # the response.failed after an in-run error that ended a run
            if event.type in _RUN_END:
                if event.type == "response.failed":
                    retries += 1
                    if retries > MAX_RETRIES:
                        raise Fatal("response.failed")
                    self.send(self.full(self.pending or body))
                    continue
                self.pending = None
                return event.response
            if event.type == "error":
                code = getattr(event.error, "code", None)
                if code == "websocket_connection_limit_reached":
                    # The server closes with 1001 next; the SDK reconnects and the handler
                    # resends the turn (RWS-CLIENT-5).
                    continue
                # RWS-ERR-8 / RWS-CLIENT-4: the outcome of the request or the end of its
                # run. Retry with the full context, never the same previous_response_id
                # after previous_response_not_found (RWS-CLIENT-2).
                retries += 1
                if retries > MAX_RETRIES:
                    raise Fatal(f"error {code}")
                current = None
                self.send(self.full(self.pending or body))
        raise Fatal("the connection ended before the response completed")


def conversation(task: Task) -> list[str]:
    """Every prompt, with the tool loop, to its final text."""
    sdk = OpenAI(api_key=task.api_key, base_url=http_base_url(task.url), max_retries=0)
    app = Conversation(task, sdk, context=list(task.history))
    app.open()
    prev = task.previous_response_id
    text = ""
    try:
        for prompt in task.prompts:
            new: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": prompt}]
            while True:
                response = app.turn(prev, new)
                app.context = app.context + new + [_dump(i) for i in response.output]
                prev = response.id
                # RWS-CLIENT-7: the items of the terminal response are authoritative.
                calls = [i for i in response.output if i.type == "function_call"]
                if not calls:
                    text = response.output_text
                    break
                new = [
                    {
                        "type": "function_call_output",
                        "call_id": call.call_id,
                        "output": tool_result(call.arguments),
                    }
                    for call in calls
                ]
    finally:
        app.close()
    return [text]


async def _lanes(task: Task) -> list[str]:
    sdk = AsyncOpenAI(api_key=task.api_key, base_url=http_base_url(task.url), max_retries=0)
    limits = ResponsesWebSocketLimits(
        max_lanes=len(task.lanes) + 4,
        max_events_per_lane=4096,
        max_events=16384,
        max_bytes_per_lane=16 * 1024 * 1024,
        max_bytes=64 * 1024 * 1024,
    )
    async with (
        sdk,
        sdk.responses.connect() as connection,
        AsyncResponsesWebSocketSession(connection, limits=limits) as session,
    ):
        lanes = {name: session.lane(name) for name in task.lanes}
        for name, prompt in zip(task.lanes, task.prompts, strict=True):
            await lanes[name].send(
                {
                    "type": "response.create",
                    "model": task.model,
                    "store": task.store,
                    "input": [{"type": "message", "role": "user", "content": prompt}],
                }
            )

        async def consume(name: str) -> str:
            # RWS-CLIENT-6: the helper routes events to lanes by stream_id.
            while True:
                event = await lanes[name].recv()
                if event.type in _RUN_END or event.type == "error":
                    break
            final = await lanes[name].get_final_response()
            text: str = final.output_text
            return text

        return list(await asyncio.gather(*(consume(n) for n in task.lanes)))


def main() -> int:
    """Run the scenario's task; print the result; return the exit status."""
    task = read_task()
    try:
        if task.task == "conversation":
            texts = conversation(task)
        elif task.task == "lanes":
            texts = asyncio.run(_lanes(task))
        else:
            print(f"unsupported task {task.task}", file=sys.stderr)
            return EXIT_UNSUPPORTED
    except Exception as exc:
        print(f"openai-sdk: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print_result(texts, lanes=task.task == "lanes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
