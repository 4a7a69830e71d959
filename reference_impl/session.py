"""The sans-I/O core of the reference server: one :class:`Session` per WebSocket connection.

The session holds everything about a connection - its lanes and their FIFO queues, the
connection-scoped cache, the runs in flight, the limits - and does no I/O, reads no clock
and starts no task. The I/O layer (:mod:`reference_impl.server`) drives it:

1. Feed every input: :meth:`Session.receive_text`, :meth:`Session.receive_binary`,
   :meth:`Session.tick` (when :meth:`Session.next_deadline` passes) and
   :meth:`Session.stored_loaded` (the answer to a :class:`LoadStored` action).
2. After every call, including every :meth:`Session.step`, call
   :meth:`Session.actions` and perform what it returns, in order: :class:`SendText` (send
   one text message), :class:`StartRun` (start a task that drives the run),
   :class:`LoadStored` (look a stored response up, off the event loop) and
   :class:`CloseConnection` (send the pending messages, then close).
3. A run task calls :meth:`Session.step` until it returns :class:`RunDone`: :class:`Wait`
   asks it to sleep, :class:`Persist` to save a record durably before the next step. When
   the task ends, for whatever reason, it calls :meth:`Session.run_cancelled`; a response
   id it returns must be deleted from storage (the run was cut off after persisting).
4. Once the connection has closed, save what :meth:`Session.held_records` returns (only the
   ``persist-on-close`` fault holds records back).

Every failure becomes the error event of :mod:`reference_impl.errors`; nothing a client
sends raises out of the session (RWS-LIMIT-6) - except the ``crash-on-deep-input`` fault.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reference_impl import model
from reference_impl.actions import (
    Action,
    CloseConnection,
    LoadStored,
    Persist,
    RunDone,
    RunStep,
    SendText,
    StartRun,
    Wait,
)
from reference_impl.cache import CacheEntry, ResponseCache
from reference_impl.errors import ProtocolError, RequestError, code_info, error_event
from reference_impl.faults import NO_FAULTS, Faults
from reference_impl.lanes import LANE_TRANSITIONS, Lane, LaneEvent, LaneState, PendingRequest
from reference_impl.limits import DEFAULT_LIMITS, NO_COST, CostModel, Limits
from reference_impl.store import StoredResponse
from reference_impl.validation import (
    CreateRequest,
    DeepInputError,
    check_create,
    check_stream_id,
    parse_message,
)

# The session is the entry point of the core: its inputs and outputs are re-exported here.
__all__ = [
    "DEFAULT_LIMITS",
    "LANE_TRANSITIONS",
    "Action",
    "CloseConnection",
    "CostModel",
    "LaneEvent",
    "LaneState",
    "Limits",
    "LoadStored",
    "Persist",
    "RunDone",
    "RunStep",
    "SendText",
    "Session",
    "StartRun",
    "Wait",
]


# --- runs -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    """A run in flight: its events (numbered as they go out) and where it is."""

    run_id: int
    lane: str | None
    request: CreateRequest
    response_id: str
    context: Sequence[Mapping[str, Any]]
    # The model's run, or None while it is not generated yet (response.created went out
    # first; the first step generates the rest, see _start_run).
    generated: model.GeneratedRun | None
    prepared: model.PreparedRun
    # (wait before, event without sequence_number) in sending order; None: a dropped event
    events: list[tuple[float, dict[str, Any] | None]]
    terminal_at: int  # index in events of the (first) terminal event
    parent_own_lane: bool  # continues the cached entry of its own lane (RWS-CACHE-5)
    counter: int  # the next sequence_number
    numbered: int = 0  # events numbered so far
    cursor: int = 0
    waited: bool = False
    persisted: bool = False
    ended: bool = False


@dataclass(frozen=True, slots=True)
class _Refusal:
    """A busy-lane refusal (RWS-LANE-2, busy-lane=reject) waiting for its turn."""

    error: RequestError
    previous_response_id: str | None  # as sent, evicted when the refusal goes out


# --- the session ------------------------------------------------------------------------------


def _dumps(event: Mapping[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


_ECHOED = (
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "text",
    "reasoning",
    "max_tool_calls",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "user",
)


class Session:
    """The state of one connection, driven by the I/O layer (see the module docstring)."""

    def __init__(
        self,
        *,
        api_key: str,
        now: float,
        limits: Limits = DEFAULT_LIMITS,
        faults: Faults = NO_FAULTS,
        cost: CostModel = NO_COST,
        cache: ResponseCache | None = None,
        ids: Callable[[str], str] = _new_id,
        wall_clock: Callable[[], float] = time.time,
        multiplex: bool = True,
    ) -> None:
        self.api_key = api_key
        self.multiplex = multiplex
        self.limits = limits
        self.faults = faults
        self.cost = cost
        # The owner tag files this connection's entries in a cache that the shared-cache
        # fault may hand to every connection.
        self._owner: Hashable = object()
        self.cache = ResponseCache() if cache is None else cache
        self._ids = ids
        self._wall_clock = wall_clock

        self._opened_at = now
        self._last_activity = now
        self._actions: list[Action] = []
        self._lanes: dict[str | None, Lane] = {None: Lane(None)}
        self._named_lanes: set[str] = set()
        self._arrivals = 0
        self._runs: dict[int, _Run] = {}
        self._next_run = 0
        self._active = 0  # runs plus lookups holding a slot (RWS-LANE-4)
        self._loading: dict[int, tuple[Lane, PendingRequest]] = {}
        # busy-lane=reject: refusals held until their lane's request has sent its first event
        self._refusals: dict[str | None, list[_Refusal]] = {}
        self._aged = False
        # The requests answered by the limit error, not yet sent: the lane each was sent on
        # (the age-error-stream-id fault copies it into the error; a correct server never).
        self._limit_errors_owed: list[str | None] = []
        self._limit_error_sent = False
        self._closing = False
        # The persist-on-close fault: stored responses held back until the connection closes.
        self._held: list[Persist] = []

    # --- public methods for receiving data ---------------------------------------------------

    def receive_text(self, text: str, now: float) -> None:
        """Handle one text message from the client."""
        self._last_activity = now
        if self._closing:
            return
        # RWS-TRANS-7: every message up to max-message-size is accepted (the I/O layer closes
        # with 1009 above it); the shrunk-message-limit fault refuses the last tenth of it.
        if (
            self.faults.active("shrunk-message-limit")
            and len(text.encode()) > 0.9 * self.limits.max_message_size
        ):
            self._close(1009, "message too big")
            return
        try:
            event = parse_message(text)
        except ProtocolError as exc:
            # RWS-CREATE-9, RWS-CREATE-11: frame-scoped errors keep the connection open.
            self._send_error(exc)
            return
        try:
            if event["type"] == "response.steer":
                self._receive_steer(event)
            else:
                self._receive_create(event, now)
        except DeepInputError:
            raise  # the crash-on-deep-input fault: deliberately unhandled
        except Exception:
            # RWS-LIMIT-6, RWS-ERR-5: a failure of ours is a server_error, with no details.
            stream_id = event.get("stream_id")
            self._reject_now(
                RequestError("server_error", "The server failed to process the request."),
                stream_id=stream_id if isinstance(stream_id, str) else None,
            )

    def receive_binary(self, data: bytes, now: float) -> None:
        """Handle one binary message from the client."""
        self._last_activity = now
        if self._closing:
            return
        if self.faults.active("binary-crash"):
            self._close(1011, "binary message")
            return
        if self.faults.active("binary-close-1003"):
            # Fault: the RFC 6455 close RWS-CREATE-10 permits, against RWS-CREATE-22.
            self._close(1003, "binary messages are not supported")
            return
        # RWS-CREATE-10: answer with unsupported_frame_type and keep the connection open.
        self._send_error(
            ProtocolError("unsupported_frame_type", "Binary messages are not supported.")
        )

    def stored_loaded(self, ticket: int, record: StoredResponse | None, now: float) -> None:
        """Answer a :class:`LoadStored` action with the stored response, or None."""
        lane, request = self._loading.pop(ticket)
        self._active -= 1
        create = request.create
        assert create is not None
        if self._closing:
            return
        if self._aged:
            self._fire(lane, LaneEvent.LOADED_REJECT)
            self._limit_errors_owed.append(lane.name)
        elif record is None:
            self._fire(lane, LaneEvent.LOADED_REJECT)
            self._reject(request, _not_found(create))
        else:
            # RWS-CACHE-3, RWS-MODEL-3: a hydrated run has the context of a cache hit, but
            # nothing of it was restored from the connection cache.
            self._start_run(
                lane,
                create,
                LaneEvent.LOADED_START,
                context=lambda: model.build_context(
                    record.context, record.output, model.normalize_input(create.input)
                ),
                restored_items=0,
                parent_own_lane=False,
            )
        self._pump(now)
        self._close_if_aged_and_idle()

    def tick(self, now: float) -> None:
        """Apply the timers whose deadline has passed (call it at :meth:`next_deadline`)."""
        if self._closing:
            return
        # RWS-LIMIT-1/2: at the connection-age limit no new run starts; queued requests are
        # answered with the limit error and the connection closes once the runs have ended.
        if not self._aged and now >= self._age_deadline():
            self._aged = True
            for lane in self._lanes.values():
                # Fault: RWS-LIMIT-12 broken, queued requests are left to start.
                while lane.queue and not self.faults.active("start-queued-at-age-limit"):
                    lane.queue.popleft()
                    self._limit_errors_owed.append(lane.name)
            self._release_refusals()
            self._close_if_aged_and_idle()
        # RWS-LIMIT-4: idle only with nothing in flight and no message for idle_timeout.
        deadline = self._idle_deadline()
        if deadline is not None and now >= deadline:
            self._close(1001, "idle timeout")

    def next_deadline(self) -> float | None:
        """Return when :meth:`tick` must next be called, or None when no timer runs."""
        if self._closing:
            return None
        deadlines = [] if self._aged else [self._age_deadline()]
        idle = self._idle_deadline()
        if idle is not None:
            deadlines.append(idle)
        deadline = min(deadlines, default=None)
        return None if deadline == float("inf") else deadline

    # --- public methods for runs -----------------------------------------------------------

    def step(self, run_id: int, now: float) -> RunStep:
        """Advance run ``run_id``: send its due events and say what the task does next."""
        run = self._runs[run_id]
        if run.generated is None:
            self._generate(run)
        while run.cursor < len(run.events):
            wait, event = run.events[run.cursor]
            if wait > 0 and not run.waited:
                run.waited = True
                return Wait(wait)
            if run.cursor == run.terminal_at and not run.persisted:
                run.persisted = True
                record = self._record_to_persist(run)
                if record is not None:
                    return Persist(record, self.api_key)
            run.waited = False
            if event is not None:  # None: the terminal event the drop-terminal fault drops
                self._send_event(run, event)
            if run.cursor == run.terminal_at:
                # The terminal event is queued before anything the commit sends.
                self._end_run(run, now)
            run.cursor += 1
        del self._runs[run_id]
        return RunDone()

    def held_records(self) -> list[Persist]:
        """Return and forget the stored responses the ``persist-on-close`` fault held back.

        The I/O layer saves them once the connection has closed; a correct session holds
        none (RWS-CACHE-11: it persists before the terminal event).
        """
        held, self._held = self._held, []
        return held

    def run_cancelled(self, run_id: int) -> str | None:
        """Forget a run whose task was cancelled (the connection closed, RWS-LIMIT-7).

        Returns the id of a response that was persisted but never sent its terminal event:
        the I/O layer deletes it from storage (RWS-LIMIT-10), else None.
        """
        run = self._runs.pop(run_id, None)
        if run is None or run.ended or not run.persisted:
            return None
        return run.response_id

    # --- public method for getting the actions ------------------------------------------------

    def actions(self) -> list[Action]:
        """Return and forget the actions the I/O layer must perform, in order."""
        actions, self._actions = self._actions, []
        return actions

    @property
    def closing(self) -> bool:
        """Whether the session asked for the connection to close."""
        return self._closing

    @property
    def runs_in_flight(self) -> int:
        """The number of runs that have not sent their terminal event."""
        return sum(1 for run in self._runs.values() if not run.ended)

    # --- private methods: requests -------------------------------------------------------

    def _receive_create(self, event: dict[str, Any], now: float) -> None:
        # RWS-LIMIT-1: once aged, every response.create gets the connection-scoped error
        # (held until the runs in flight end, RWS-LIMIT-11).
        if self._aged:
            stream_id = event.get("stream_id")
            self._limit_errors_owed.append(stream_id if isinstance(stream_id, str) else None)
            self._close_if_aged_and_idle()
            return
        raw_stream_id = event.get("stream_id")
        if not self.multiplex and raw_stream_id is not None:
            # RWS-LANE-12: a server without the multiplex profile refuses a stream_id rather
            # than running the request on the default lane, and names the lane it refused.
            self._reject_now(
                RequestError(
                    "unsupported_parameter",
                    "stream_id is not supported: this server has no lanes (multiplex).",
                    param="stream_id",
                ),
                stream_id=raw_stream_id if isinstance(raw_stream_id, str) else None,
            )
            return
        try:
            lane_name = check_stream_id(event, lenient=self.faults.active("accept-bad-stream-id"))
        except RequestError as exc:
            self._reject_now(exc, stream_id=None)
            return
        if lane_name is not None and lane_name not in self._named_lanes:
            # RWS-LANE-5: a lane id stays counted until the connection closes; the default
            # lane does not count (the lane-limit-counts-default fault counts it while busy).
            counted = len(self._named_lanes)
            default = self._lanes[None]
            if self.faults.active("lane-limit-counts-default") and (
                default.state is not LaneState.IDLE or default.queue
            ):
                counted += 1
            if counted >= self.limits.max_named_lanes and not self.faults.active("lane-limit-off"):
                self._reject_now(
                    RequestError(
                        "websocket_stream_limit_reached",
                        f"Too many streams on this connection (limit "
                        f"{self.limits.max_named_lanes}).",
                        param="stream_id",
                    ),
                    stream_id=lane_name,
                )
                return
            self._named_lanes.add(lane_name)
            self._lanes[lane_name] = Lane(lane_name)
        lane = self._lanes[lane_name]

        # RWS-LANE-2: with busy-lane=reject, a request on a busy lane is refused...
        if self.limits.busy_lane == "reject" and (lane.state is not LaneState.IDLE or lane.queue):
            previous = event.get("previous_response_id")
            refusal = _Refusal(
                RequestError(
                    "response_already_in_flight",
                    "A response is already in flight on this lane.",
                ),
                previous if isinstance(previous, str) else None,
            )
            # RWS-LANE-9: ...but not before the outcome of the request that keeps the lane
            # busy has begun: that one may still wait for a slot, a storage lookup or its
            # task's first step.
            self._refusals.setdefault(lane_name, []).append(refusal)
            self._release_refusals()
            return

        previous = event.get("previous_response_id")
        request = PendingRequest(
            arrival=self._arrivals,
            lane=lane_name,
            create=None,
            rejection=None,
            previous_response_id=previous if isinstance(previous, str) else None,
        )
        self._arrivals += 1
        try:
            create = check_create(
                event,
                crash_on_deep_input=self.faults.active("crash-on-deep-input"),
                refusal_code="invalid_value"
                if self.faults.active("refuse-stream-false-invalid-value")
                else "unsupported_parameter",
            )
            # RWS-MODEL-1: this server serves the conformance model, and freeform-1 (a model
            # that behaves like a real one, for the suite's any-model paths).
            if create.model not in model.MODELS:
                raise RequestError("model_not_found", f"The model '{create.model}' does not exist.")
            request.create = create
        except RequestError as exc:
            request.rejection = exc
        # RWS-LANE-1, RWS-LANE-9, RWS-CREATE-12: every request's outcome, error or run, takes
        # its turn in the lane's FIFO, so outcomes arrive in the order of the requests.
        lane.queue.append(request)
        self._pump(now)

    def _receive_steer(self, event: dict[str, Any]) -> None:
        if self.faults.active("steer-ignored"):
            return
        # RWS-STEER-1: without the steering profile every response.steer fails with
        # steering_not_supported, echoing the input without an id; the target is untouched.
        target = event.get("previous_response_id")
        steer_input = event.get("input")
        reply: dict[str, Any] = {
            "type": "response.steer.failed",
            "steer": {
                # Echoed as sent when they have the shape of the event's fields.
                "previous_response_id": target if isinstance(target, str) else "",
                "input": steer_input if isinstance(steer_input, str | list) else [],
            },
            "error": {
                "type": "invalid_request_error",
                "code": "steering_not_supported",
                "message": "This server does not support steering.",
            },
        }
        running = self._running(target) if isinstance(target, str) else None
        if running is not None:
            # RWS-SEQ-1: a steering event takes the next number of its running target (and
            # its stream_id); the target's own events go on after it.
            self._actions.append(SendText(self._stamp(running, reply)))
            return
        # Without a running target there is no counter to draw from.
        reply["sequence_number"] = 0
        lane = self._cached_lane(target) if isinstance(target, str) else None
        if lane is not None:
            reply["stream_id"] = lane
        self._actions.append(SendText(_dumps(reply)))

    def _running(self, response_id: str) -> _Run | None:
        for run in self._runs.values():
            if run.response_id == response_id and not run.ended:
                return run
        return None

    def _cached_lane(self, response_id: str) -> str | None:
        found = self.cache.find(response_id)
        if found is not None and found[0] is self._owner:
            return found[1].lane
        return None

    def _pump(self, now: float) -> None:
        """Move every lane that can move, then send the refusals whose turn has come."""
        self._move_lanes()
        self._release_refusals()

    def _move_lanes(self) -> None:
        """Move every lane whose head request can go: reject it, start it or look it up."""
        while not self._closing:
            ready = [
                lane
                for lane in self._lanes.values()
                if lane.queue and (lane.state is LaneState.IDLE or self._overlaps(lane))
            ]
            if not ready:
                return
            # Fair across lanes: the earliest request goes first.
            ready.sort(key=lambda lane: lane.queue[0].arrival)
            progressed = False
            for lane in ready:
                request = lane.queue[0]
                if request.rejection is not None:
                    lane.queue.popleft()
                    self._reject(request, request.rejection)
                    progressed = True
                    break
                if self._aged and not self.faults.active("start-queued-at-age-limit"):
                    lane.queue.popleft()
                    self._limit_errors_owed.append(lane.name)
                    progressed = True
                    break
                # RWS-LANE-4: up to max-active-responses runs at once; the others wait.
                if self._active >= self.limits.max_active_responses:
                    continue
                self._dispatch(lane, request)
                progressed = True
                break
            if not progressed:
                return

    def _release_refusals(self) -> None:
        """Send the held busy-lane refusals of every lane whose request has begun its outcome."""
        for name in [name for name in self._refusals if not self._awaits_outcome(name)]:
            for refusal in self._refusals.pop(name):
                if self._closing:
                    return
                # RWS-CACHE-5: a rejected continuation of the lane's own entry evicts it - in
                # its turn, so the request before it resolved the entry first (RWS-CACHE-12).
                previous = refusal.previous_response_id
                if previous is not None and not self.faults.active("no-evict"):
                    self.cache.evict(self._owner, name, previous)
                self._reject_now(refusal.error, stream_id=name)

    def _awaits_outcome(self, name: str | None) -> bool:
        """Whether the request that keeps lane ``name`` busy has sent nothing yet."""
        lane = self._lanes[name]
        if lane.queue or lane.state is LaneState.LOADING:
            return True
        return any(
            run.lane == name and run.numbered == 0 and not run.ended for run in self._runs.values()
        )

    def _dispatch(self, lane: Lane, request: PendingRequest) -> None:
        """Resolve ``previous_response_id`` (RWS-CACHE-12) and start or look up the run."""
        create = request.create
        assert create is not None
        new_items = model.normalize_input(create.input)
        previous = create.previous_response_id
        lane.queue.popleft()
        if previous is None:
            self._start_run(
                lane,
                create,
                LaneEvent.START,
                context=lambda: model.build_context((), (), new_items),
                restored_items=0,
                parent_own_lane=False,
            )
            return
        hit = None if self.faults.active("no-cache") else self.cache.find(previous)
        # RWS-LIMIT-5: an entry of another API key is not there for this connection.
        if hit is not None and hit[1].api_key == self.api_key:
            owner, entry = hit
            # RWS-CACHE-2: the context is the previous context, its output, the new input.
            output = () if self.faults.active("context-drop-output") else entry.output
            self._start_run(
                lane,
                create,
                LaneEvent.START,
                context=lambda: model.build_context(entry.context, output, new_items),
                # RWS-MODEL-3: cached tokens are those of the items restored from the cache.
                restored_items=len(entry.context) + len(output),
                parent_own_lane=owner is self._owner and entry.lane == lane.name,
            )
            return
        # RWS-CACHE-3: a miss is hydrated from storage when the response was stored.
        ticket = request.arrival
        self._loading[ticket] = (lane, request)
        self._active += 1
        self._fire(lane, LaneEvent.LOAD)
        api_key = None if self.faults.active("cross-key") else self.api_key
        self._actions.append(LoadStored(ticket, previous, api_key))

    def _reject(self, request: PendingRequest, error: RequestError) -> None:
        """Send the outcome of a request that starts no run, and evict its parent."""
        lane = request.lane
        # RWS-CACHE-5: a failed continuation of its own lane's entry evicts that entry; a fork
        # (the entry of another lane) leaves it alone (RWS-CACHE-6).
        if request.previous_response_id is not None and not self.faults.active("no-evict"):
            self.cache.evict(self._owner, lane, request.previous_response_id)
        info = code_info(error.code)
        stream_id = lane if info.stream_id == "lane" else None
        self._reject_now(error, stream_id=stream_id)

    def _reject_now(self, error: RequestError, *, stream_id: str | None) -> None:
        if stream_id is not None and self.faults.active("no-stream-id"):
            stream_id = None
        self._send_error(error, stream_id=stream_id)
        if self.faults.active("close-on-error"):
            self._close(1008, "request error")

    def _send_error(self, error: ProtocolError, *, stream_id: str | None = None) -> None:
        event = error_event(error, stream_id=stream_id, faults=self.faults)
        self._actions.append(SendText(_dumps(event)))

    def _send_limit_error(self, *, stream_id: str | None = None) -> None:
        self._limit_error_sent = True
        self._send_error(
            ProtocolError(
                "websocket_connection_limit_reached",
                "Responses websocket connection limit reached. "
                "Create a new websocket connection to continue.",
            ),
            stream_id=stream_id,
        )

    # --- private methods: runs -------------------------------------------------------------

    def _skeleton(self, create: CreateRequest, response_id: str) -> dict[str, Any]:
        event = create.event
        tool_choice = event.get("tool_choice")
        truncation = event.get("truncation")
        parallel = event.get("parallel_tool_calls")
        skeleton: dict[str, Any] = {
            "id": response_id,
            "object": "response",
            "created_at": int(self._wall_clock()),
            "status": "in_progress",
            "model": create.model,
            "output": [],
            "previous_response_id": create.previous_response_id,
            "store": create.store,
            "metadata": event.get("metadata") or {},
            "tools": event.get("tools") or [],
            "tool_choice": tool_choice if isinstance(tool_choice, str | dict) else "auto",
            "parallel_tool_calls": parallel if isinstance(parallel, bool) else True,
            "truncation": truncation if truncation in ("auto", "disabled") else "disabled",
            "usage": None,
            "error": None,
            "incomplete_details": None,
        }
        for name in _ECHOED:
            if event.get(name) is not None:
                skeleton[name] = event[name]
        skeleton.setdefault("instructions", None)
        return skeleton

    def _overlaps(self, lane: Lane) -> bool:
        """Whether a fault lets the runs of ``lane`` overlap (RWS-LANE-1 broken)."""
        return self.faults.active("lane-overlap") or (
            lane.name is not None and self.faults.active("named-lane-overlap")
        )

    def _fire(self, lane: Lane, event: LaneEvent) -> None:
        # lane-overlap, named-lane-overlap: the lane never becomes busy, so its runs overlap.
        if not self._overlaps(lane):
            lane.fire(event)

    def _start_run(
        self,
        lane: Lane,
        create: CreateRequest,
        start: LaneEvent,
        *,
        context: Callable[[], Sequence[Mapping[str, Any]]],
        restored_items: int,
        parent_own_lane: bool,
    ) -> None:
        """Accept the run and start it; a refusal or a failure of ours rejects the request.

        Accepting is cheap: the context (shared with the cache entry, not copied), the
        context size and the model's output limit. Then ``response.created`` is sent at once
        and the rest of the run is generated by its first :meth:`step`, so the I/O layer
        sends ``response.created`` while the rest is built. With a fault switch on, the run
        is generated here in full, as the faults that break the event list need it whole.
        """
        response_id = self._ids("resp")
        try:
            full_context = context()
            # The context size limit, from the context's byte count (A.2: 4 bytes a token).
            _check_context_size(
                model.context_tokens(full_context)
                + (0 if create.instructions is None else model.tokens(create.instructions))
            )
            request_view = dict(create.event)
            request_view["generate"] = create.generate
            try:
                prepared = model.MODELS[create.model](
                    response=self._skeleton(create, response_id),
                    context=full_context,
                    request=request_view,
                    restored_items=restored_items,
                    ids=self._ids,
                )
            except model.ModelLimitError as exc:
                # RWS-LIMIT-6, A.5: the model refuses, before generating anything, a run that
                # asks for more than it generates in one response; the request gets
                # invalid_value (param input) and the connection lives on.
                raise RequestError(
                    "invalid_value",
                    f"The conformance model generates at most {model.MAX_RUN_CHARACTERS} "
                    f"characters in {model.MAX_RUN_DELTAS} deltas per response.",
                    param="input",
                ) from exc
            generated = prepared.generate() if self.faults else None
            planned, terminal_at = ([], 0) if generated is None else self._plan(generated)
        except Exception as exc:
            # RWS-LIMIT-6: whatever the input, the connection and its cache live on.
            if start is LaneEvent.LOADED_START:
                self._fire(lane, LaneEvent.LOADED_REJECT)
            previous = create.previous_response_id
            if parent_own_lane and previous is not None and not self.faults.active("no-evict"):
                # RWS-CACHE-5: a rejected continuation of the lane's own entry evicts it.
                self.cache.evict(self._owner, lane.name, previous)
            if not isinstance(exc, RequestError):
                exc = RequestError("server_error", "The server failed to start the response.")
            self._reject_now(exc, stream_id=lane.name)
            return
        self._fire(lane, start)
        self._active += 1
        run_id = self._next_run
        self._next_run += 1
        self._runs[run_id] = _Run(
            run_id=run_id,
            lane=lane.name,
            request=create,
            response_id=response_id,
            context=full_context,
            generated=generated,
            prepared=prepared,
            events=planned,
            terminal_at=terminal_at,
            parent_own_lane=parent_own_lane,
            counter=1 if self.faults.active("sequence-start-1") else 0,
        )
        run = self._runs[run_id]
        if generated is None:
            # response.created goes out now, before the run task has generated anything.
            self._send_event(run, prepared.created)
            run.cursor = 1
        self._actions.append(StartRun(run_id))

    def _generate(self, run: _Run) -> None:
        """Generate the rest of a run whose ``response.created`` was sent (see _start_run)."""
        try:
            generated = run.prepared.generate()
        except Exception:
            # RWS-LIMIT-6: a failure of ours after response.created ends the run failed.
            generated = _failed_run(run.prepared.created)
        run.generated = generated
        run.events, run.terminal_at = self._plan(generated)

    def _send_event(self, run: _Run, event: Mapping[str, Any]) -> None:
        text = self._stamp(run, event)
        # RWS-TRANS-5: one event, one text message, however large (the split-large-event
        # fault cuts a large one in two).
        if self.faults.active("split-large-event") and len(text) > _SPLIT_ABOVE:
            half = len(text) // 2
            self._actions.extend((SendText(text[:half]), SendText(text[half:])))
        else:
            self._actions.append(SendText(text))
        if run.lane in self._refusals:
            self._release_refusals()  # their turn may have come with this event

    def _plan(
        self, generated: model.GeneratedRun
    ) -> tuple[list[tuple[float, dict[str, Any] | None]], int]:
        """Return the run's events with their waits, and the index of its terminal event."""
        events = _break_events(list(generated.events), self.faults, self._ids)
        planned: list[tuple[float, dict[str, Any] | None]] = list(
            zip(self._waits(events, generated), events, strict=True)
        )
        terminal_at = len(planned) - 1
        if self.faults.active("duplicate-terminal"):
            planned.append((0.0, events[-1]))
        if self.faults.active("drop-terminal"):
            planned[terminal_at] = (planned[terminal_at][0], None)
        return planned, terminal_at

    def _stamp(self, run: _Run, event: Mapping[str, Any]) -> str:
        """Number one event of ``run`` (or a steering event for it) and encode it."""
        # RWS-SEQ-2, RWS-SEQ-3: per run, from 0, each event the previous number plus one.
        if self.faults.active("sequence-repeat") and run.numbered == 2:
            number = run.counter - 1
        else:
            number = run.counter
            run.counter += 1
        run.numbered += 1
        stamped = {**event, "sequence_number": number}
        # RWS-EVENT-4 / RWS-EVENT-5: named lanes carry stream_id, the default lane never.
        if run.lane is not None and not self.faults.active("no-stream-id"):
            stamped["stream_id"] = run.lane
        elif run.lane is None and self.faults.active("stream-id-on-default"):
            stamped["stream_id"] = "default"
        return _dumps(stamped)

    def _waits(
        self,
        events: Sequence[Mapping[str, Any]],
        generated: model.GeneratedRun,
    ) -> list[float]:
        """Return the wait before each event: the model's delay plus the cost model."""
        waits = [0.0] + [generated.delay_s] * (len(events) - 1)
        if self.cost.prefill_us_per_token and len(events) > 1:
            usage = generated.response.get("usage") or {}
            uncached = usage.get("input_tokens", 0) - usage.get("input_tokens_details", {}).get(
                "cached_tokens", 0
            )
            waits[1] += max(uncached, 0) * self.cost.prefill_us_per_token / 1e6
        if self.cost.decode_us_per_token:
            for index, event in enumerate(events):
                delta = event.get("delta")
                if isinstance(delta, str):
                    waits[index] += model.tokens(delta) * self.cost.decode_us_per_token / 1e6
        return waits

    def _record_to_persist(self, run: _Run) -> StoredResponse | None:
        # RWS-CACHE-11: a stored response is durable before its terminal event is sent. Only
        # continuable responses are stored; a failed one is not (RWS-CACHE-7).
        assert run.generated is not None  # generated by the first step
        if not run.request.store or run.generated.status == "failed":
            return None
        if self.faults.active("no-persist"):
            return None
        record = StoredResponse(
            response_id=run.response_id,
            context=run.context,
            output=run.generated.output,
            response=run.generated.response,
        )
        if self.faults.active("persist-on-close"):
            # The terminal event goes out now; the record is saved when the connection closes.
            self._held.append(Persist(record, self.api_key))
            return None
        return record

    def _end_run(self, run: _Run, now: float) -> None:
        """Commit a run as its terminal event goes out: cache, lane, next requests."""
        run.ended = True
        self._last_activity = now
        assert run.generated is not None  # generated by the first step
        failed = run.generated.status == "failed"
        if not failed or self.faults.active("cache-failed"):
            # RWS-CACHE-1, RWS-CACHE-10: a completed or incomplete run (generate:false too)
            # becomes its lane's entry. RWS-CACHE-7: a failed one does not.
            self.cache.put(
                self._owner,
                CacheEntry(
                    response_id=run.response_id,
                    context=run.context,
                    output=run.generated.output,
                    store=run.request.store,
                    api_key=self.api_key,
                    lane=run.lane,
                ),
            )
        elif run.parent_own_lane and not self.faults.active("no-evict"):
            # RWS-CACHE-5: a failed continuation of its own lane's entry evicts it.
            assert run.request.previous_response_id is not None
            self.cache.evict(self._owner, run.lane, run.request.previous_response_id)
        lane = self._lanes[run.lane]
        if not self._overlaps(lane):
            lane.fire(LaneEvent.END)
        self._active -= 1
        self._pump(now)
        self._close_if_aged_and_idle()

    # --- private methods: limits and closing ---------------------------------------------

    def _age_deadline(self) -> float:
        if self.faults.active("ignore-age-limit"):
            return float("inf")
        return self._opened_at + self.limits.max_connection_age

    def _idle_deadline(self) -> float | None:
        if self.limits.idle_timeout is None:
            return None
        # RWS-LIMIT-4: time with a run in flight (or a request waiting) is not idle; the
        # idle-during-run fault counts it all the same.
        busy = self._active or self._loading or any(lane.queue for lane in self._lanes.values())
        if busy and not self.faults.active("idle-during-run"):
            return None
        return self._last_activity + self.limits.idle_timeout

    def _close_if_aged_and_idle(self) -> None:
        # RWS-LIMIT-2: once the runs already started have ended, send the limit error if it
        # was not sent yet, and close with 1001.
        if not self._aged or self._closing or self._active or self._loading:
            return
        # RWS-LIMIT-11: the errors that answer requests sent or queued after the limit are
        # held until now. They carry no stream_id, and a client that files such an error
        # under the default lane (the openai SDK's lane helper does) would end a run that is
        # still streaming.
        owed, self._limit_errors_owed = self._limit_errors_owed, []
        for lane_name in owed:
            # RWS-EVENT-5: a connection-scoped error carries no stream_id, whatever the lane
            # of the request it answers.
            stream_id = lane_name if self.faults.active("age-error-stream-id") else None
            self._send_limit_error(stream_id=stream_id)
        if not self._limit_error_sent:
            self._send_limit_error()
        self._close(1001, "connection age limit")

    def _close(self, code: int, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._actions.append(CloseConnection(code, reason))


#: The split-large-event fault splits run events longer than this (characters).
_SPLIT_ABOVE = 65536

#: The largest context a run may have, in bytes of canonical JSON: a chain of continuations
#: grows its context turn by turn, and each lane's latest one stays in memory.
MAX_CONTEXT_BYTES = 64 * 1024 * 1024


def _check_context_size(input_tokens: int) -> None:
    # A.2: input_tokens is a quarter of the context's canonical JSON bytes (rounded up).
    if 4 * input_tokens > MAX_CONTEXT_BYTES:
        raise RequestError(
            "invalid_value",
            f"The context of a response is limited to {MAX_CONTEXT_BYTES} bytes.",
            param="input",
        )


def _failed_run(created: Mapping[str, Any]) -> model.GeneratedRun:
    """A run that fails right after ``response.created``: the server could not generate it."""
    response = {
        **created["response"],
        "status": "failed",
        "error": {"code": "server_error", "message": "The server failed to generate the response."},
    }
    events = (dict(created), {"type": "response.failed", "response": response})
    return model.GeneratedRun(events, 0.0, "failed", response, ())


def _not_found(create: CreateRequest) -> RequestError:
    # RWS-CACHE-4, RWS-LIMIT-5: not cached here and not stored for this API key.
    return RequestError(
        "previous_response_not_found",
        f"Previous response with id '{create.previous_response_id}' not found.",
    )


def _break_events(
    events: list[dict[str, Any]], faults: Faults, ids: Callable[[str], str]
) -> list[dict[str, Any]]:
    """Apply the fault switches that break the ordering grammar or the deltas of a run."""
    if not faults:
        return events
    events = [dict(event) for event in events]  # the faults below edit events in place
    if faults.active("created-not-first") and len(events) > 1:
        events[0], events[1] = events[1], events[0]
    if faults.active("no-item-added"):
        events = [e for e in events if e["type"] != "response.output_item.added"]
    if faults.active("wrong-item-id"):
        for event in events:
            if event["type"].endswith(".delta") and "item_id" in event:
                event["item_id"] = ids("msg")
                break
    if faults.active("delta-mismatch"):
        for event in events:
            if event["type"] == "response.output_text.done":
                event["text"] += "!"
    terminal = events[-1]
    if terminal["type"] in ("response.completed", "response.incomplete", "response.failed"):
        response = dict(terminal["response"])
        if faults.active("empty-terminal-output"):
            response["output"] = []
        if faults.active("wrong-response-id"):
            response["id"] = ids("resp")
        if faults.active("wrong-cached-tokens") and isinstance(response.get("usage"), dict):
            usage = dict(response["usage"])
            usage["input_tokens_details"] = {"cached_tokens": usage["input_tokens"]}
            response["usage"] = usage
        events[-1] = {**terminal, "response": response}
    return events
