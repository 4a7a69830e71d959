"""Client adapter: a minimal client written directly on ``websockets`` (no SDK).

It is the contract's reference adapter and the smallest client that does everything the
specification asks of a client: flat ``response.create`` events with ``previous_response_id``
and only the new input on the same connection (RWS-CLIENT-1), the full context after
``previous_response_not_found`` (RWS-CLIENT-2) and on a new connection for a ``store: false``
chain (RWS-CLIENT-5), the terminal events and in-run errors as ends of a run (RWS-CLIENT-4),
reconnection only after 1001/1006/1011/1012/1013 with exponential backoff (RWS-ERR-7/9),
unknown events and fields ignored (RWS-EVENT-3), lanes routed by ``stream_id`` (RWS-CLIENT-6),
and steering (the ``steer`` task): ``response.steer`` without ``stream_id`` (RWS-STEER-9), each
submission followed through the states of spec 9.6, and accepted input never sent again
(RWS-STEER-7): a successor commits it, a continuation after ``response.steer.pending`` gets
only the tool output, and only input given back (``response.steer.failed``) is sent again.

Run: ``python -m conformance.adapters.raw_websockets`` with the contract's environment
(docs/client-adapters.md). Standard library and ``websockets`` only.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from conformance.adapters._contract import (
    EXIT_FAILED,
    EXIT_UNSUPPORTED,
    RECONNECT_CODES,
    Task,
    print_result,
    read_task,
    tool_result,
    tool_schema,
)

__all__ = ["Client", "Steer", "main"]

MAX_MESSAGE = 16 * 1024 * 1024  # RWS-TRANS-10
BACKOFF_START = 0.2
BACKOFF_MAX = 3.2
MAX_RECONNECTS = 6
MAX_RETRIES = 3
RECV_TIMEOUT = 30.0
_RUN_END = frozenset({"response.completed", "response.incomplete", "response.failed"})


class Fatal(Exception):
    """The task cannot go on (a close the client must not reconnect after, a rejected key)."""


class Retry(Exception):
    """The request has no usable outcome; send it again with the full context."""


@dataclass
class Steer:
    """One steering submission as the client tracks it (spec 9.6): ``unsent``, ``sent``,
    ``accepted`` and ``pending`` (the server owns the input), ``committed`` (a successor's
    ``response.created`` applied it) or ``returned`` (refused or given back: the client's)."""

    input: str
    target: str | None = None
    id: str | None = None
    state: str = "unsent"
    steered: dict[str, Any] | None = None  # the target's terminal response, once committed

    @property
    def items(self) -> list[dict[str, Any]]:
        """The input as context items."""
        return [{"type": "message", "role": "user", "content": self.input}]

    @property
    def settled(self) -> bool:
        """Whether nothing more is owed about it (no answer, no successor to wait for)."""
        return self.state not in ("sent", "accepted")


@dataclass
class Client:
    """One logical client: a connection, replaced when the server asks for it."""

    task: Task
    ws: ClientConnection | None = None
    failures: int = 0  # consecutive failed connection attempts, for the backoff
    close_code: int | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)

    def connection(self) -> ClientConnection:
        """The open connection, opening one (with backoff after failures) when needed."""
        if self.ws is not None:
            return self.ws
        if self.close_code is not None and self.close_code not in RECONNECT_CODES:
            # RWS-ERR-9 / RWS-ERR-7: no automatic reconnection after other close codes.
            raise Fatal(f"connection closed with {self.close_code}; not reconnecting")
        if self.failures:
            if self.failures > MAX_RECONNECTS:
                raise Fatal("too many failed reconnections")
            # RWS-ERR-7: exponential backoff between reconnection attempts.
            time.sleep(min(BACKOFF_START * 2 ** (self.failures - 1), BACKOFF_MAX))
        try:
            self.ws = connect(
                self.task.url,
                additional_headers={"Authorization": f"Bearer {self.task.api_key}"},
                max_size=MAX_MESSAGE,
                compression=None,
                ping_interval=None,
            )
        except InvalidStatus as exc:
            raise Fatal(f"upgrade refused: {exc.response.status_code}") from exc
        except OSError:
            self.failures += 1
            self.close_code = 1006
            return self.connection()
        return self.ws

    def carried(self, steer: Steer) -> list[dict[str, Any]]:
        """Steering input the next request carries: only input given back (refused, or
        failed after acceptance) is the client's to send (RWS-STEER-7)."""
        return steer.items if steer.state == "returned" else []

    def lost(self, exc: ConnectionClosed) -> None:
        """The connection closed under us: remember why, drop it."""
        self.close_code = exc.rcvd.code if exc.rcvd is not None else 1006
        self.failures += 1
        self.ws = None

    def send(self, event: dict[str, Any]) -> ClientConnection:
        """Send one client event as one text message (RWS-TRANS-6)."""
        ws = self.connection()
        ws.send(json.dumps(event))
        return ws

    def turn(
        self,
        prev: str | None,
        new: list[dict[str, Any]],
        context: list[dict[str, Any]],
        steer: Steer | None = None,
    ) -> dict[str, Any]:
        """One request to its completed response (the last successor's, when ``steer`` had
        one), recovering as the spec says."""
        retries = 0
        full = False  # send the full context instead of previous_response_id + new input
        while True:
            body: dict[str, Any] = {"type": "response.create", "model": self.task.model}
            if prev is not None and not full:
                # RWS-CLIENT-1: previous_response_id and only the new items.
                body["previous_response_id"] = prev
                body["input"] = new
            else:
                body["input"] = context + new
            body["store"] = self.task.store
            if self.tools:
                body["tools"] = self.tools
            try:
                return self._exchange(body, steer)
            except ConnectionClosed as exc:
                conn_had_entry = self.ws is not None
                self.lost(exc)
                if not conn_had_entry or self.close_code not in RECONNECT_CODES:
                    raise Fatal(f"connection closed with {self.close_code}") from exc
                # RWS-CLIENT-5: a store=false chain is gone with its connection.
                full = full or not self.task.store
            except Retry as exc:
                retries += 1
                if retries > MAX_RETRIES:
                    raise Fatal(f"giving up: {exc}") from exc
                # RWS-CLIENT-2: never the same previous_response_id again; the full context.
                full = True

    def steer_event(self, steer: Steer) -> dict[str, Any]:
        """The ``response.steer`` of a submission: RWS-STEER-9, no ``stream_id`` (the target's
        lane is the steer's lane); nothing but ``type``, ``previous_response_id``, ``input``."""
        return {
            "type": "response.steer",
            "previous_response_id": steer.target,
            "input": steer.input,
        }

    def steer_accepted(self, ws: ClientConnection, steer: Steer) -> None:
        """The server owns the input now (RWS-STEER-7: it is never sent again)."""

    def _steer_reply(self, event: dict[str, Any], steer: Steer) -> None:
        """Move a submission along spec 9.6 on a steering event about it."""
        about = event.get("steer") or {}
        if about.get("previous_response_id") != steer.target:
            return
        etype = event.get("type")
        if etype == "response.steer.accepted" and steer.state == "sent":
            steer.id, steer.state = about.get("id"), "accepted"
        elif etype == "response.steer.pending" and steer.state == "accepted":
            steer.state = "pending"
        elif etype == "response.steer.failed":
            # Refused (no id: the answer to the oldest unanswered steer) or given back after
            # acceptance (its id): either way the input is the client's again.
            sid = about.get("id")
            if (sid is None and steer.state == "sent") or (
                sid is not None and sid == steer.id and steer.state in ("accepted", "pending")
            ):
                steer.state = "returned"

    def _exchange(self, body: dict[str, Any], steer: Steer | None = None) -> dict[str, Any]:
        ws = self.send(body)
        current: str | None = None
        ended: dict[str, Any] | None = None  # the current run's terminal response
        while True:
            event = json.loads(ws.recv(timeout=RECV_TIMEOUT))
            etype = event.get("type")
            if etype == "response.created":
                created = event["response"]
                successor = ended is not None and created.get("previous_response_id") == current
                if steer is not None and steer.state == "accepted" and successor:
                    # RWS-STEER-4: the successor continues the target; its response.created
                    # commits the accepted input.
                    steer.state, steer.steered = "committed", ended
                current, ended = created["id"], None
                if steer is not None and steer.state == "unsent":
                    steer.target, steer.state = current, "sent"
                    ws.send(json.dumps(self.steer_event(steer)))
                continue
            if str(etype).startswith("response.steer.") and steer is not None:
                was = steer.state
                self._steer_reply(event, steer)
                if was != "accepted" and steer.state == "accepted":
                    self.steer_accepted(ws, steer)
                if ended is not None and steer.settled:
                    return ended
                continue
            if etype in _RUN_END and event["response"]["id"] != current:
                # The response.failed that follows an in-run error of an earlier run
                # (RWS-ORDER-12): that run already ended at the error (RWS-CLIENT-4).
                continue
            if etype in _RUN_END:
                # RWS-CLIENT-4 / RWS-CLIENT-7: the terminal response is authoritative.
                self.failures = 0
                self.close_code = None
                if etype == "response.failed":
                    raise Retry("response.failed")
                response: dict[str, Any] = event["response"]
                if steer is not None and not steer.settled:
                    # A steer's answer is owed (RWS-STEER-2), or accepted input's fate: a
                    # successor, response.steer.pending or the input given back.
                    ended = response
                    continue
                return response
            if etype == "error":
                # RWS-ERR-4: error.type may be missing; the code decides.
                error = event.get("error") or {}
                code = error.get("code")
                if code == "websocket_connection_limit_reached":
                    # RWS-CLIENT-5: continue on a new connection (the server closes with 1001).
                    ws.close()
                    self.ws = None
                    self.close_code = 1001
                    raise Retry(str(code))
                # RWS-ERR-8 / RWS-CLIENT-4: the request's outcome, or the end of its run.
                raise Retry(str(code))
            # RWS-EVENT-3: anything else (deltas, unknown and vendor types) is not needed.


def _calls(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in response.get("output") or [] if i.get("type") == "function_call"]


def _text(response: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in response.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )


def conversation(task: Task) -> list[str]:
    """The ``conversation`` task: every prompt, with the tool loop, to its final text."""
    client = Client(task, tools=[tool_schema(task.tool)])
    context: list[dict[str, Any]] = list(task.history)
    prev = task.previous_response_id
    text = ""
    for prompt in task.prompts:
        new: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": prompt}]
        while True:
            response = client.turn(prev, new, context)
            output = list(response.get("output") or [])
            context = context + new + output
            prev = response["id"]
            calls = _calls(response)
            if not calls:
                text = _text(response)
                break
            new = [
                {
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": tool_result(call["arguments"]),
                }
                for call in calls
            ]
    if client.ws is not None:
        client.ws.close()
    return [text]


def steer(task: Task) -> list[str]:
    """The ``steer`` task: the conversation, each prompt's first response steered with its
    steering input (``RWS_STEERS``) as soon as it is created."""
    client = Client(task, tools=[tool_schema(task.tool)])
    context: list[dict[str, Any]] = list(task.history)
    prev = task.previous_response_id
    text = ""
    for index, prompt in enumerate(task.prompts):
        new: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": prompt}]
        words = task.steer_for(index)
        submission = Steer(words) if words is not None else None
        while True:
            response = client.turn(prev, new, context, submission)
            context = context + new
            carried: list[dict[str, Any]] = []
            if submission is not None:
                if submission.state == "committed" and submission.steered is not None:
                    # The successor continued the target with the input after its output.
                    context += list(submission.steered.get("output") or []) + submission.items
                context += list(response.get("output") or [])
                if submission.state == "pending":
                    # The server places the pending input before the next request's own
                    # (spec 9.3): the continuation carries the tool outputs only.
                    context += submission.items
                carried = client.carried(submission)
                submission = None
            else:
                context += list(response.get("output") or [])
            prev = response["id"]
            calls = _calls(response)
            if not calls and not carried:
                text = _text(response)
                break
            new = [
                {
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": tool_result(call["arguments"]),
                }
                for call in calls
            ] + carried
    if client.ws is not None:
        client.ws.close()
    return [text]


def lanes(task: Task) -> list[str]:
    """The ``lanes`` task: one run per lane at once, events routed by ``stream_id``."""
    client = Client(task)
    ws = client.connection()
    for lane, prompt in zip(task.lanes, task.prompts, strict=True):
        ws.send(
            json.dumps(
                {
                    "type": "response.create",
                    "model": task.model,
                    "stream_id": lane,
                    "store": task.store,
                    "input": [{"type": "message", "role": "user", "content": prompt}],
                }
            )
        )
    texts: dict[str, str] = {}
    while len(texts) < len(task.lanes):
        event = json.loads(ws.recv(timeout=RECV_TIMEOUT))
        # RWS-CLIENT-6: route by stream_id (absent: the default lane).
        lane = event.get("stream_id")
        if event.get("type") in _RUN_END and lane in task.lanes:
            texts[lane] = _text(event["response"])
        elif event.get("type") == "error" and lane in task.lanes:
            raise Fatal(f"lane {lane}: {event.get('error')}")
    ws.close()
    return [texts[lane] for lane in task.lanes]


def main() -> int:
    """Run the scenario's task; print the result; return the exit status."""
    task = read_task()
    try:
        if task.task == "conversation":
            texts = conversation(task)
        elif task.task == "lanes":
            texts = lanes(task)
        elif task.task == "steer":
            texts = steer(task)
        else:
            print(f"unsupported task {task.task}", file=sys.stderr)
            return EXIT_UNSUPPORTED
    except (Fatal, ConnectionClosed, TimeoutError) as exc:
        print(f"raw-websockets: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print_result(texts, lanes=task.task == "lanes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
