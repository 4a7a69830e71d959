"""The scripted adversarial server's core: what to answer to which client message.

Sans-I/O and synchronous. The I/O glue (:mod:`conformance.clientsuite.server`) calls
:meth:`Script.connect` when a connection opens, :meth:`Script.receive` for every client
message and :meth:`Script.flush` when a lanes scenario waited long enough, and executes the
returned :data:`Action` list in order on that connection. A :class:`Send` (or
:class:`SendBatch`) that ends a run says so (``ends_run``); the glue calls
:meth:`Script.finished` as soon as it has recorded that message, before anything else is read,
so the core's view of busy lanes (busy-lane=reject) matches the transcript exactly.

The core is a small spec-conforming server: it keeps every response of a connection cached
(RWS-CACHE-9 allows more than the latest), hydrates ``store: true`` responses on any
connection (RWS-CACHE-3), answers anything else with ``previous_response_not_found``
(RWS-CACHE-4) and evicts a chain whose continuation failed (RWS-CACHE-5). Its model answers
from the context: a ``lookup`` call while the last prompt has fewer tool outputs than the
scenario's ``calls``, then :func:`~conformance.clientsuite.scenarios.reply_text`. A request
with ``generate: false`` (a client's warm-up, ``warm_up`` in ``schemas/rules/client.json``) runs
without output (RWS-CREATE-6) and becomes a cached entry whose context is its input
(RWS-CACHE-10); it is not one of the scenario's turns, so the faults, which address turns
(``ClientScenario.faults``), never hit it. What is *not* conforming is exactly the scenario's
faults.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conformance.checker.client import load_client_rules
from conformance.clientsuite.events import (
    CallPlan,
    RunWriter,
    TextPlan,
    connection_limit_error,
    encode,
    foreign_event,
    request_error,
)
from conformance.clientsuite.scenarios import TOOL_NAME, ClientScenario, reply_text, tool_result

__all__ = [
    "TERMINAL_PAUSE",
    "Action",
    "Close",
    "Pause",
    "Ping",
    "Script",
    "Send",
    "SendBatch",
]

# busy-lane=reject: the scripted server does not queue (RWS-LANE-2), so RWS-CLIENT-3 binds.
BUSY_LANE = "reject"
MAX_ITEMS_PER_RUN = 4
# RWS-CLIENT-3: seconds between a run's last response.output_item.done and its terminal event,
# in the scenarios where the client sends a next request (a tool output, the next prompt). A
# run sent in one burst has ended before any reply can arrive, so a client that sends its next
# request as soon as the item it needs is done - before the run has ended - would never be
# caught; with the pause its request arrives, and is recorded, while the run is still open.
TERMINAL_PAUSE = 0.3


@dataclass(frozen=True)
class Send:
    """Send one text message; ``ends_run``: it ends the run on ``lane`` (for the client)."""

    text: str
    ends_run: bool = False
    lane: str | None = None


@dataclass(frozen=True)
class SendBatch:
    """Send several text messages back to back, all recorded before the first goes out."""

    texts: tuple[str, ...]
    ends_run: bool = False
    lane: str | None = None


@dataclass(frozen=True)
class Pause:
    """Wait before the next action (pacing of a slow stream)."""

    seconds: float


@dataclass(frozen=True)
class Ping:
    """Send a WebSocket ping and wait for its pong (RWS-CLIENT-9)."""


@dataclass(frozen=True)
class Close:
    """Close the connection with this code."""

    code: int
    reason: str = ""


Action = Send | SendBatch | Pause | Ping | Close


@dataclass
class _Entry:
    conn: str
    store: bool
    context: list[dict[str, Any]]  # the run's context then its output


@dataclass
class _Conn:
    busy: set[str | None] = field(default_factory=set)
    waiting: list[tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=list)
    closed: bool = False


def _as_items(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        return None
    return [i if "type" in i else {**i, "type": "message"} for i in value]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class Script:
    """The scripted server of one scenario (all its connections)."""

    def __init__(self, scenario: ClientScenario, model: str) -> None:
        self.scenario = scenario
        self.model = model
        self.connections = 0
        self.creates = 0  # the scenario's turns: every response.create but warm-ups
        self.warm_ups = 0
        self.entries: dict[str, _Entry] = {}
        self.conns: dict[str, _Conn] = {}
        self._ids = itertools.count(1)
        self._calls = itertools.count(1)
        # RWS-CLIENT-3: where the client has a next request to send (see TERMINAL_PAUSE).
        self.pause_before_end = scenario.task == "conversation" and (
            scenario.calls > 0 or len(scenario.prompts) > 1
        )

    # --- glue entry points -------------------------------------------------------------------

    def connect(self, conn: str) -> list[Action]:
        """A connection opened."""
        self.connections += 1
        self.conns[conn] = _Conn()
        code = self.scenario.connect_faults.get(self.connections)
        if code is not None:
            self.conns[conn].closed = True
            return [Close(code, "try again later")]
        return []

    def disconnect(self, conn: str) -> None:
        """The connection closed: its store=false responses are gone (RWS-CACHE-8)."""
        state = self.conns.get(conn)
        if state is not None:
            state.closed = True
        for rid in [r for r, e in self.entries.items() if e.conn == conn and not e.store]:
            del self.entries[rid]

    def finished(self, conn: str, lane: str | None) -> None:
        """A run's last event went out."""
        state = self.conns.get(conn)
        if state is not None:
            state.busy.discard(lane)

    def binary(self, conn: str) -> list[Action]:
        """A binary message: RWS-CREATE-10."""
        return [Send(encode(self._frame_error("unsupported_frame_type", None)))]

    def receive(self, conn: str, text: str) -> list[Action]:
        """A text message from the client."""
        state = self.conns[conn]
        if state.closed:
            return []
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            return [Send(encode(self._frame_error("invalid_json", None)))]
        if not isinstance(body, dict):
            return [Send(encode(self._frame_error("invalid_json", None)))]
        if body.get("type") != "response.create":
            if body.get("type") == "response.steer":
                # Not the steering profile: every steer is refused (RWS-STEER-1).
                return [Send(encode(_steer_unsupported(body)))]
            return [Send(encode(self._frame_error("unknown_event_type", "type")))]
        return self._create(conn, state, body)

    def waiting(self, conn: str) -> bool:
        """Whether a lanes scenario holds requests back, waiting for the others."""
        state = self.conns.get(conn)
        return bool(state and state.waiting)

    def flush(self, conn: str) -> list[Action]:
        """Serve the held-back lane requests now (the client does not send them all)."""
        state = self.conns[conn]
        held, state.waiting = state.waiting, []
        return self._interleave(conn, held)

    # --- requests ----------------------------------------------------------------------------

    def _create(self, conn: str, state: _Conn, body: dict[str, Any]) -> list[Action]:
        # RWS-CREATE-6: a warm-up asks for no output; it is no turn of the scenario, whose
        # faults address turns (a client without warm-ups sees the same numbering).
        warm_up = load_client_rules().is_warm_up(body)
        if warm_up:
            self.warm_ups += 1
        else:
            self.creates += 1
        sid = body.get("stream_id")
        lane = sid if isinstance(sid, str) else None
        for name in ("stream", "background"):
            # RWS-CREATE-20: stream: false / background: true are refused (as a server may).
            if body.get(name) is (name == "background"):
                return [Send(encode(self._lane_error("unsupported_parameter", name, lane)))]
        if lane in state.busy:
            # RWS-LANE-2 with busy-lane=reject.
            return [Send(encode(self._lane_error("response_already_in_flight", None, lane)))]
        fault = "" if warm_up else self.scenario.faults.get(self.creates, "")
        if fault == "limit":
            # RWS-LIMIT-1/2: the age limit is reached; no run starts, then 1001.
            state.closed = True
            return [Send(encode(connection_limit_error())), Close(1001, "connection age limit")]
        items = _as_items(body.get("input"))
        if items is None:
            return [Send(encode(self._lane_error("invalid_type", "input", lane)))]
        prev = body.get("previous_response_id")
        context: list[dict[str, Any]] = []
        if isinstance(prev, str):
            entry = self.entries.get(prev)
            if entry is None or (entry.conn != conn and not entry.store):
                # RWS-CACHE-4: neither cached here nor hydratable.
                return [Send(encode(self._not_found(prev, lane)))]
            context = list(entry.context)
        context.extend(items)
        if fault == "error-untyped":
            # RWS-CACHE-5: the failed continuation evicts its previous response.
            self.entries.pop(prev if isinstance(prev, str) else "", None)
            error = request_error(
                "server_error",
                500,
                None,
                "The server had an error while processing your request.",
                stream_id=lane,
            )
            return [Send(encode(error))]
        if self.scenario.task == "lanes" and lane is not None and not warm_up:
            state.waiting.append((body, context))
            if len(state.waiting) >= len(self.scenario.prompts):
                return self.flush(conn)
            return []
        state.busy.add(lane)
        return list(self._run(conn, body, context, lane, fault, generate=not warm_up))

    def _writer(self, body: dict[str, Any], lane: str | None) -> RunWriter:
        prev = body.get("previous_response_id")
        extra: dict[str, Any] = {"x_future_field": {"v": 2}} if self.scenario.unknown else {}
        return RunWriter(
            response_id=f"resp_{self.creates:03d}_{next(self._ids):03d}",
            model=self.model,
            stream_id=lane,
            previous_response_id=prev if isinstance(prev, str) else None,
            store=body.get("store") is not False,
            extra_fields=extra,
            item_fields={"x_item_field": True} if self.scenario.unknown else {},
        )

    def _answer(self, context: list[dict[str, Any]]) -> CallPlan | TextPlan:
        scenario = self.scenario
        last_user = max(
            (i for i, item in enumerate(context) if item.get("role") == "user"), default=-1
        )
        users = sum(1 for item in context if item.get("role") == "user")
        calls = {
            str(item.get("call_id")): item
            for item in context
            if item.get("type") == "function_call"
        }
        outputs = [item for item in context if item.get("type") == "function_call_output"]
        wrong = 0
        for out in outputs:
            call = calls.get(str(out.get("call_id")))
            try:
                q = json.loads(call["arguments"])["q"] if call else None
            except (ValueError, KeyError, TypeError):
                q = None
            if q is None or _text(out.get("output")) != tool_result(str(q)):
                wrong += 1
        recent = sum(
            1 for item in context[last_user + 1 :] if item.get("type") == "function_call_output"
        )
        if recent < scenario.calls:
            q = f"q{users}-{recent + 1}"
            return CallPlan(TOOL_NAME, json.dumps({"q": q}), f"call_{next(self._calls):03d}")
        last = _text(context[last_user].get("content")) if last_user >= 0 else ""
        text = reply_text(users, len(outputs), last, scenario.pad)
        if wrong:
            text += f" ({wrong} wrong tool outputs)"
        chunks = scenario.chunks if scenario.chunks <= len(text) else len(text)
        return TextPlan(text, chunks)

    def _events(
        self, writer: RunWriter, context: list[dict[str, Any]], fault: str, generate: bool
    ) -> Iterator[dict[str, Any] | Action]:
        scenario = self.scenario
        yield from writer.created()
        if scenario.unknown:
            # RWS-EVENT-3: a type from a future version and a vendor type, mid-run.
            yield foreign_event("response.future_event_type")
            yield foreign_event("acme.trace", (1, 2))
        if not generate:
            # RWS-CREATE-6: no output items; response.completed with output empty and
            # usage.output_tokens 0.
            yield writer.completed()
            return
        plan = self._answer(context)
        events = writer.call_item(plan) if isinstance(plan, CallPlan) else writer.text_item(plan)
        deltas = 0
        for event in events:
            yield event
            if event["type"].endswith(".delta"):
                deltas += 1
                if fault.startswith("close-mid:") and deltas == 2:
                    yield Close(int(fault.split(":", 1)[1]), "")
                    return
                if fault == "run-error" and deltas == 2:
                    # RWS-ORDER-12: the in-run error, then response.failed; for the client the
                    # run ends at the error already (RWS-CLIENT-4), so the lane is free then.
                    # Both go out as one batch: nothing the client sends in reaction to the
                    # error can be read between them.
                    # RWS-CLIENT-4: for the client the run ends at the error.
                    yield SendBatch(
                        (encode(writer.run_error()), encode(writer.failed())),
                        ends_run=True,
                        lane=writer.stream_id,
                    )
                    return
                if scenario.delay:
                    yield Pause(scenario.delay)
                if scenario.ping and deltas == max(1, scenario.chunks // 2):
                    yield Ping()
        if self.pause_before_end:
            yield Pause(TERMINAL_PAUSE)
        yield writer.completed()

    def _run(
        self,
        conn: str,
        body: dict[str, Any],
        context: list[dict[str, Any]],
        lane: str | None,
        fault: str,
        *,
        generate: bool = True,
    ) -> Iterator[Action]:
        writer = self._writer(body, lane)
        for out in self._events(writer, context, fault, generate):
            if isinstance(out, dict):
                if out.get("type") == "response.completed":
                    # RWS-CACHE-1: the completed response becomes a cached entry; for
                    # generate: false its context is its input (RWS-CACHE-10).
                    self.entries[writer.response_id] = _Entry(
                        conn, writer.store, context + writer.output
                    )
                    yield Send(encode(out), ends_run=True, lane=lane)
                    continue
                yield Send(encode(out))
            else:
                if isinstance(out, Close):
                    self.conns[conn].closed = True
                if isinstance(out, SendBatch):
                    # RWS-CACHE-5: the failed continuation evicts the response it continued.
                    prev = body.get("previous_response_id")
                    self.entries.pop(prev if isinstance(prev, str) else "", None)
                yield out
        if fault.startswith("close-after:"):
            self.conns[conn].closed = True
            yield Close(int(fault.split(":", 1)[1]), "going away")

    def _interleave(
        self, conn: str, held: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    ) -> list[Action]:
        streams: list[list[Action]] = []
        for body, context in held:
            sid = body.get("stream_id")
            lane = sid if isinstance(sid, str) else None
            self.conns[conn].busy.add(lane)
            streams.append(list(self._run(conn, body, context, lane, "")))
        merged: list[Action] = []
        # RWS-CLIENT-6: one event of each lane in turn.
        for group in itertools.zip_longest(*streams):
            merged.extend(a for a in group if a is not None)
        return merged

    # --- errors ------------------------------------------------------------------------------

    def _not_found(self, prev: str, lane: str | None) -> dict[str, Any]:
        return request_error(
            "previous_response_not_found",
            400,
            "invalid_request_error",
            f"Previous response with id '{prev}' not found.",
            "previous_response_id",
            lane,
        )

    def _lane_error(self, code: str, param: str | None, lane: str | None) -> dict[str, Any]:
        status = 409 if code == "response_already_in_flight" else 400
        message = {
            "response_already_in_flight": "A response is already in flight on this lane.",
            "unsupported_parameter": f"Unsupported parameter: '{param}'.",
            "invalid_type": f"Invalid type for '{param}'.",
        }[code]
        return request_error(code, status, "invalid_request_error", message, param, lane)

    def _frame_error(self, code: str, param: str | None) -> dict[str, Any]:
        return request_error(code, 400, "invalid_request_error", "Invalid client message.", param)


def _steer_unsupported(body: dict[str, Any]) -> dict[str, Any]:
    # The suite declares no steering profile: every steer fails (RWS-STEER-1).
    steer = {k: body[k] for k in ("previous_response_id", "input") if k in body}
    return {
        "type": "response.steer.failed",
        "sequence_number": 0,
        "steer": steer,
        "error": {
            "type": "invalid_request_error",
            "code": "steering_not_supported",
            "message": "Steering is not supported for this response.",
        },
    }
