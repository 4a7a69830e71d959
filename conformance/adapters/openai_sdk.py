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

The ``steer`` task steers with the SDK's own ``connection.response.steer(input=...,
previous_response_id=...)``, which sends ``type``, ``previous_response_id`` and ``input`` only
(RWS-STEER-9), as soon as the prompt's ``response.created`` arrives. The SDK parses the steering
events and leaves their meaning to the application, which its docstrings spell out and the
adapter follows (spec 9.6): accepted input is the server's (RWS-STEER-7: never sent again), a
successor's ``response.created`` commits it and continues the target, after
``response.steer.pending`` the continuation carries the tool outputs only, and input given back
(``response.steer.failed``) goes with the next request. An SDK without ``response.steer``
cannot steer: the task is then unsupported (exit status 3, the check SKIPPED).

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


class Unsupported(Exception):
    """This SDK cannot do the task."""


@dataclass
class Steer:
    """One steering submission as the application tracks it (spec 9.6): ``unsent``, ``sent``,
    ``accepted`` and ``pending`` (the server owns the input), ``committed`` (a successor's
    ``response.created`` applied it) or ``returned`` (refused or given back: the client's)."""

    input: str
    target: str | None = None
    id: str | None = None
    state: str = "unsent"
    steered: Any = None  # the target's terminal response, once committed

    @property
    def items(self) -> list[dict[str, Any]]:
        """The input as context items."""
        return [{"type": "message", "role": "user", "content": self.input}]

    @property
    def settled(self) -> bool:
        """Whether nothing more is owed about it (no answer, no successor to wait for)."""
        return self.state not in ("sent", "accepted")

    def on(self, event: Any) -> None:
        """Move along spec 9.6 on a steering event about this submission."""
        about = getattr(event, "steer", None)
        if getattr(about, "previous_response_id", None) != self.target:
            return
        sid = getattr(about, "id", None)
        if event.type == "response.steer.accepted" and self.state == "sent":
            self.id, self.state = sid, "accepted"
        elif event.type == "response.steer.pending" and self.state == "accepted":
            self.state = "pending"
        elif event.type == "response.steer.failed" and (
            (sid is None and self.state == "sent")
            or (sid is not None and sid == self.id and self.state in ("accepted", "pending"))
        ):
            # Refused, or given back after acceptance: the input is the client's again.
            self.state = "returned"


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

    def turn(self, prev: str | None, new: list[dict[str, Any]], steer: Steer | None = None) -> Any:
        """One request to its completed response (the last successor's, when ``steer`` had
        one)."""
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
        ended: Any = None  # the current run's terminal response, while a steer is unsettled
        for event in self.connection:
            if event.type == "response.created":
                successor = ended is not None and event.response.previous_response_id == current
                if steer is not None and steer.state == "accepted" and successor:
                    # RWS-STEER-4: the successor continues the target; its response.created
                    # commits the accepted input.
                    steer.state, steer.steered = "committed", ended
                current, ended = event.response.id, None
                if steer is not None and steer.state == "unsent":
                    # The SDK's own steering call (RWS-STEER-9: it sends no stream_id).
                    steer.target, steer.state = current, "sent"
                    self.connection.response.steer(input=steer.input, previous_response_id=current)
                continue
            if event.type.startswith("response.steer.") and steer is not None:
                steer.on(event)
                if ended is not None and steer.settled:
                    self.pending = None
                    return ended
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
                if steer is not None and not steer.settled:
                    # A steer's answer is owed (RWS-STEER-2), or accepted input's fate: a
                    # successor, response.steer.pending or the input given back.
                    ended = event.response
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


def steer(task: Task) -> list[str]:
    """The ``steer`` task: the conversation, each prompt's first response steered with its
    steering input as soon as it is created, through the SDK's ``response.steer``."""
    sdk = OpenAI(api_key=task.api_key, base_url=http_base_url(task.url), max_retries=0)
    app = Conversation(task, sdk, context=list(task.history))
    app.open()
    if not callable(getattr(app.connection.response, "steer", None)):
        app.close()
        raise Unsupported("this openai SDK has no connection.response.steer")
    prev = task.previous_response_id
    text = ""
    try:
        for index, prompt in enumerate(task.prompts):
            new: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": prompt}]
            words = task.steer_for(index)
            submission = Steer(words) if words is not None else None
            while True:
                response = app.turn(prev, new, submission)
                app.context = app.context + new
                carried: list[dict[str, Any]] = []
                if submission is not None and submission.state == "committed":
                    # The successor continued the target with the input after its output.
                    steered = [_dump(i) for i in submission.steered.output]
                    app.context = app.context + steered + submission.items
                app.context = app.context + [_dump(i) for i in response.output]
                if submission is not None and submission.state == "pending":
                    # The server places the pending input before the next request's own
                    # (spec 9.3): the continuation carries the tool outputs only.
                    app.context = app.context + submission.items
                if submission is not None and submission.state == "returned":
                    carried = submission.items
                submission = None
                prev = response.id
                calls = [i for i in response.output if i.type == "function_call"]
                if not calls and not carried:
                    text = response.output_text
                    break
                new = [
                    {
                        "type": "function_call_output",
                        "call_id": call.call_id,
                        "output": tool_result(call.arguments),
                    }
                    for call in calls
                ] + carried
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
        elif task.task == "steer":
            texts = steer(task)
        else:
            print(f"unsupported task {task.task}", file=sys.stderr)
            return EXIT_UNSUPPORTED
    except Unsupported as exc:
        print(f"openai-sdk: {exc}", file=sys.stderr)
        return EXIT_UNSUPPORTED
    except Exception as exc:
        print(f"openai-sdk: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print_result(texts, lanes=task.task == "lanes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
