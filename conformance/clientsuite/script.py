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

In a ``steering`` scenario the core is a steering server. Its runs are :class:`Stream` actions,
made one step at a time while they are sent, so that a ``response.steer`` that arrives while a
run streams is answered by that run from its counter (RWS-STEER-3, RWS-SEQ-5) and can change
how it ends; a steer for a target that is not running is answered at once, numbered 0. What
the server does with each accepted submission is the scenario's ``steer_replies``: a
successor (RWS-STEER-4), ``response.steer.pending`` (RWS-STEER-6) or a late failure
(RWS-STEER-8). Outside the steering profile every steer is refused (RWS-STEER-1).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
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
    steer_reply,
)
from conformance.clientsuite.scenarios import TOOL_NAME, ClientScenario, reply_text, tool_result
from conformance.schemas import default_schema_set

__all__ = [
    "STEER_WAIT",
    "TERMINAL_PAUSE",
    "Action",
    "Close",
    "Pause",
    "Ping",
    "Script",
    "Send",
    "SendBatch",
    "Step",
    "Stream",
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
# A run the scenario expects the client to steer (its prompt has a steering input) waits this
# long at most, looking every STEER_POLL seconds, for the client's response.steer before its
# first output item: the client steers when it sees response.created, and the run must still
# be running when the steer arrives, however loaded the machine is.
STEER_WAIT = 3.0
STEER_POLL = 0.01
# RWS-STEER-5: what a response.steer may carry.
_STEER_FIELDS = frozenset({"type", "previous_response_id", "input"})
_STEER_MESSAGES = {
    "invalid_input": "Invalid steering input.",
    "response_not_found": "The target response is not available on this connection.",
    "response_already_completed": "The response completed and accepts no more input.",
    "response_not_active": "The response is no longer accepting input.",
    "too_many_pending_steers": "Too much steering input is waiting for this response.",
    "successor_creation_failed": "The steering input could not be committed to a successor.",
}


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


Step = Send | SendBatch | Pause | Ping | Close


@dataclass(frozen=True, eq=False)
class Stream:
    """Steps made one at a time, each when the glue is done with the previous one: a run that
    reacts to what the client sends while it streams (a steering scenario's runs)."""

    steps: Iterator[Step]


Action = Step | Stream


@dataclass
class _Entry:
    conn: str
    store: bool
    context: list[dict[str, Any]]  # the run's context then its output
    lane: str | None = None
    status: str = "completed"
    continued: bool = False  # a steering successor continued it


@dataclass(frozen=True)
class _Accepted:
    """An accepted steering submission, not committed yet."""

    id: str
    items: list[dict[str, Any]]
    input: Any  # as the client sent it (a late failure gives it back)
    how: str  # the scenario's answer (ClientScenario.steer_replies)


@dataclass
class _Live:
    """A steering scenario's run while it streams: the steers it has to answer."""

    conn: str
    writer: RunWriter
    inbox: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[_Accepted] = field(default_factory=list)


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
        # steering: the running runs by response id, the valid steers that reached one (the
        # scenario's steer numbers), and the accepted input waiting, after
        # response.steer.pending, for the client's next request continuing its target.
        self.live: dict[str, _Live] = {}
        self.steers = 0
        self._steer_ids = itertools.count(1)
        self.pending_steers: dict[str, tuple[str, list[_Accepted]]] = {}
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
        # Accepted, uncommitted steering input exists only on its connection (spec 9.4).
        for rid in [r for r, live in self.live.items() if live.conn == conn]:
            del self.live[rid]
        for rid in [r for r, (c, _) in self.pending_steers.items() if c == conn]:
            del self.pending_steers[rid]

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
                if self.scenario.profile == "steering":
                    return self._steer(conn, body)
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
            held = self.pending_steers.pop(prev, None)
            if held is not None and held[0] == conn:
                # Spec 9.3: the request continuing a target with pending steering input
                # commits it, placed before its own input in submission order.
                for accepted in held[1]:
                    context.extend(accepted.items)
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
        if self.scenario.profile == "steering" and not warm_up:
            return [Stream(self._steered(conn, body, context, lane))]
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
                        conn, writer.store, context + writer.output, lane
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

    # --- steering ----------------------------------------------------------------------------

    def _steer(self, conn: str, body: dict[str, Any]) -> list[Action]:
        """A ``response.steer``: the running target answers it at its next step, from its
        counter (RWS-STEER-3, RWS-SEQ-5); any other gets its answer now, numbered 0."""
        target = body.get("previous_response_id")
        live = self.live.get(target) if isinstance(target, str) else None
        if live is not None and live.conn == conn:
            live.inbox.append(body)
            return []
        return [Send(encode(self._idle_steer_reply(conn, body)))]

    def _idle_steer_reply(self, conn: str, body: Mapping[str, Any]) -> dict[str, Any]:
        target = body.get("previous_response_id")
        entry = self.entries.get(target) if isinstance(target, str) else None
        entry = entry if entry is not None and entry.conn == conn else None
        lane = entry.lane if entry is not None else None
        problem = _invalid_steer(body)
        if problem:
            code = "invalid_input"
        elif entry is None:
            code = "response_not_found"
        elif entry.status == "completed" and not entry.continued:
            code = "response_already_completed"
        else:
            code = "response_not_active"
        return steer_reply(
            "response.steer.failed",
            lane,
            steer=_echo(body),
            error=_steer_error(code, problem),
        )

    def _steer_answer(self, live: _Live, body: Mapping[str, Any]) -> dict[str, Any]:
        """The running target's answer to one steer, numbered from its counter."""
        writer = live.writer
        problem = _invalid_steer(body)
        if problem:
            # RWS-STEER-5: refused; the client still owns the input.
            return writer.steer_event(
                "response.steer.failed",
                steer=_echo(body),
                error=_steer_error("invalid_input", problem),
            )
        self.steers += 1
        how = self.scenario.steer_replies.get(self.steers, "refuse:too_many_pending_steers")
        if how.startswith("refuse:"):
            return writer.steer_event(
                "response.steer.failed",
                steer=_echo(body),
                error=_steer_error(how.removeprefix("refuse:")),
            )
        steer_id = f"steer_{next(self._steer_ids):03d}"
        items = _as_items(body.get("input")) or []
        live.accepted.append(_Accepted(steer_id, items, body.get("input"), how))
        # RWS-STEER-2: accepted with a new id; the server owns the input from now on.
        return writer.steer_event(
            "response.steer.accepted",
            steer={"id": steer_id, "previous_response_id": writer.response_id},
        )

    def _answers(self, live: _Live) -> Iterator[Step]:
        while live.inbox:
            yield Send(encode(self._steer_answer(live, live.inbox.pop(0))))

    def _expects_steer(self, body: Mapping[str, Any]) -> bool:
        """Whether the request's last user message is a prompt the client steers."""
        items = _as_items(body.get("input")) or []
        users = [_text(i.get("content")) for i in items if i.get("role") == "user"]
        steered = {
            prompt
            for prompt, steer in zip(self.scenario.prompts, self.scenario.steers, strict=False)
            if steer is not None
        }
        return bool(users) and users[-1] in steered

    def _steered(
        self, conn: str, body: dict[str, Any], context: list[dict[str, Any]], lane: str | None
    ) -> Iterator[Step]:
        """A steering scenario's run and the successors that continue it, step by step."""
        writer = self._writer(body, lane)
        expects = self._expects_steer(body)
        created, in_progress = writer.created()
        self.live[writer.response_id] = _Live(conn, writer)
        yield Send(encode(created))
        while True:
            live = self.live[writer.response_id]
            yield Send(encode(in_progress))
            waited = 0.0
            while expects and not live.inbox and waited < STEER_WAIT:
                yield Pause(STEER_POLL)
                waited += STEER_POLL
            yield from self._answers(live)
            plan = self._answer(context)

            def cut(live: _Live = live) -> bool:
                # Accepted input that interrupts: the target stops at its next delta.
                return any(a.how == "interrupt" for a in live.accepted)

            events = (
                writer.call_item(plan)
                if isinstance(plan, CallPlan)
                else writer.text_item(plan, cut)
            )
            for event in events:
                yield Send(encode(event))
                if event["type"].endswith(".delta") and self.scenario.delay:
                    yield Pause(self.scenario.delay)
                yield from self._answers(live)
            if self.pause_before_end:
                yield Pause(TERMINAL_PAUSE)
            # The run ends in this step: the steers still waiting are answered from its
            # counter before its terminal event, and nothing is yielded in between, so that
            # no steer arrives unanswered once it is no longer the running target.
            batch, successor = self._end(live, context)
            yield batch
            if successor is None:
                return
            writer, context, in_progress = successor
            expects = False

    def _end(
        self, live: _Live, context: list[dict[str, Any]]
    ) -> tuple[SendBatch, tuple[RunWriter, list[dict[str, Any]], dict[str, Any]] | None]:
        """The run's last write: the steers still waiting, its terminal event, what its
        accepted input owes, and the successor's ``response.created`` when one follows."""
        writer = live.writer
        rid = writer.response_id
        lane = writer.stream_id
        texts = [encode(self._steer_answer(live, body)) for body in live.inbox]
        live.inbox.clear()
        del self.live[rid]
        # RWS-ORDER-11: a cut item ends the run incomplete, with the reason steered.
        terminal = writer.incomplete("steered") if writer.was_cut else writer.completed()
        texts.append(encode(terminal))
        full = context + writer.output
        entry = _Entry(
            live.conn,
            writer.store,
            full,
            lane,
            status="incomplete" if writer.was_cut else "completed",
        )
        # RWS-CACHE-1: a completed or incomplete run is the lane's cached entry.
        self.entries[rid] = entry
        calls = [i for i in writer.output if i.get("type") == "function_call"]
        successor_input: list[_Accepted] = []
        pending: list[_Accepted] = []
        for accepted in live.accepted:
            if accepted.how == "late-fail":
                # RWS-STEER-8: the accepted input comes back with its id; numbered 0, the
                # target having ended (RWS-SEQ-5).
                texts.append(
                    encode(
                        steer_reply(
                            "response.steer.failed",
                            lane,
                            steer={
                                "id": accepted.id,
                                "previous_response_id": rid,
                                "input": accepted.input,
                            },
                            error=_steer_error("successor_creation_failed"),
                        )
                    )
                )
            elif accepted.how == "pending" and calls:
                pending.append(accepted)
            else:
                successor_input.append(accepted)
        if pending:
            # RWS-STEER-6: after response.completed, once per submission; the client's next
            # request continuing the target commits the input (spec 9.3).
            required = [
                {"type": "function_call_output", "call_id": c["call_id"], "name": c["name"]}
                for c in calls
            ]
            for accepted in pending:
                texts.append(
                    encode(
                        steer_reply(
                            "response.steer.pending",
                            lane,
                            steer={"id": accepted.id, "previous_response_id": rid},
                            reason="waiting_for_required_input",
                            required_input=required,
                        )
                    )
                )
            self.pending_steers[rid] = (live.conn, pending)
        if not successor_input:
            return SendBatch(tuple(texts), ends_run=True, lane=lane), None
        # RWS-STEER-4: the successor continues the target on its lane, before anything the
        # client sends, with the accepted input in submission order; its response.created,
        # in the same write as the target's end, commits that input.
        entry.continued = True
        successor = RunWriter(
            response_id=f"resp_{self.creates:03d}_{next(self._ids):03d}",
            model=self.model,
            stream_id=lane,
            previous_response_id=rid,
            store=writer.store,
            extra_fields=writer.extra_fields,
            item_fields=writer.item_fields,
        )
        created, in_progress = successor.created()
        texts.append(encode(created))
        self.live[successor.response_id] = _Live(live.conn, successor)
        committed = [item for accepted in successor_input for item in accepted.items]
        batch = SendBatch(tuple(texts), ends_run=False, lane=lane)
        return batch, (successor, full + committed, in_progress)

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


def _invalid_steer(body: Mapping[str, Any]) -> str:
    """Why a ``response.steer`` is refused with invalid_input (RWS-STEER-5), or ""."""
    if "stream_id" in body:
        return "response.steer takes no stream_id: the target's lane is the steer's lane."
    unknown = sorted(str(k) for k in body if k not in _STEER_FIELDS)
    if unknown:
        return f"Unknown parameter: '{unknown[0]}'."
    problems = default_schema_set().errors(dict(body), direction="client")
    return f"Invalid steering input: {problems[0].message}" if problems else ""


def _echo(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``steer`` of a refusal: the target and the input as the client sent them."""
    target = body.get("previous_response_id")
    value = body.get("input")
    return {
        "previous_response_id": target if isinstance(target, str) else "",
        "input": value if isinstance(value, str | list) else json.dumps(value),
    }


def _steer_error(code: str, message: str = "") -> dict[str, Any]:
    return {
        "type": "invalid_request_error",
        "code": code,
        "message": message or _STEER_MESSAGES[code],
    }
