"""One run: the events from ``response.created`` to its terminal event, and the requests.

A :class:`Run` feeds each of its events to the ordering machines and the delta equalities, and
checks what is per event and needs no table: sequence numbers (RWS-SEQ-1..3) and the
``stream_id`` every event of the run must carry or omit (RWS-EVENT-4/5). It is also the
:class:`~conformance.checker.ordering.Sink` of its executors: findings point at the run's
first record and at the record being checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from conformance.checker.cache import Prediction, ResponseFacts
from conformance.checker.deltas import DeltaPlan, RunDeltas
from conformance.checker.findings import Recorder
from conformance.checker.ordering import RunOrdering, short
from conformance.checker.rules import MISSING, Rules

__all__ = ["Expectation", "Request", "Run"]

# What a streaming event of a run did, for the next one equal to it in the fields that decide
# it (Rules.streaming_fields): the ordering machines' and the delta executor's plans, and the
# versions they hold for.
_Streamed = tuple[int, int, tuple[str, ...], DeltaPlan]
# The value of a field an event does not carry, for every field read (map() stops at the
# shortest of its iterables).
_ABSENT = repeat(MISSING)
# What a run remembers of its streaming events at most (each a part streaming at once).
_STREAMED = 64


@dataclass(frozen=True, slots=True)
class Expectation:
    """An outcome predicted for a request by requests.json (not the cache).

    ``params`` holds, per predicting row and code, the ``param`` the row names (None: any)
    and the row's requirements; a request with several defects may be answered with the code
    and param of any of them (RWS-CREATE-17). ``run_allowed``: every predicting row says
    ``error_or_run`` (the server may refuse the request or serve it, RWS-CREATE-20);
    ``run_forbidden_by`` holds the requirements of the rows that do not, which a run breaks.
    """

    codes: tuple[str, ...]
    requirements: tuple[str, ...]
    reason: str
    params: tuple[tuple[str, str | None, tuple[str, ...]], ...] = ()
    run_allowed: bool = False
    run_forbidden_by: tuple[str, ...] = ()
    # RWS-CREATE-21: a frame-scoped error of this code may answer the request (too deep)
    frame_code: str | None = None

    def param_ok(self, code: str, param: object) -> bool:
        """Whether ``param`` names a defect that ``code`` reports (True for other codes)."""
        allowed = [p for c, p, _ in self.params if c == code]
        return not allowed or None in allowed or param in allowed

    def params_for(self, code: str) -> tuple[str, ...]:
        """The params a ``code`` answer may carry, for messages."""
        return tuple(p for c, p, _ in self.params if c == code and p is not None)

    def requirements_for(self, code: str) -> tuple[str, ...]:
        """The requirements of the rows that predict ``code``."""
        found = [rid for c, _, reqs in self.params if c == code for rid in reqs]
        return tuple(dict.fromkeys(found)) or self.requirements


@dataclass(slots=True)
class Request:
    """One ``response.create`` the client sent, waiting for or given its outcome."""

    index: int
    body: Mapping[str, Any]
    lane: str | None  # the lane key (None: default lane)
    named: bool  # the request named a valid stream_id
    invalid_stream_id: bool
    null_stream_id: bool
    previous: str | None
    store: bool
    generate: bool
    # sent when the connection may already have reached max-connection-age (the limit minus
    # the clock margin): a websocket_connection_limit_reached may be its answer (RWS-LIMIT-1)
    after_limit: bool = False
    expectation: Expectation | None = None
    prediction: Prediction | None = None
    # the prediction the outcome was judged by (cache hit, hydration...), for model checks
    judged: Prediction | None = None
    context: list[Any] | None = None
    restored: list[Any] | None = field(default=None)
    # A steering successor (RWS-STEER-4): no client request, the steered response's id.
    successor_of: str | None = None


class Run:
    """The events of one run and the per-event checks."""

    __slots__ = (
        "conditions",
        "conn",
        "current",
        "deltas",
        "ended",
        "expected_stream",
        "facts",
        "fields",
        "first",
        "incomplete_item",
        "items",
        "items_added",
        "last_seq",
        "ordering",
        "per_event",
        "recorder",
        "request",
        "response_id",
        "stream_reported",
        "streamed",
        "terminal",
        "watched",
        "wire_lane",
    )

    def __init__(
        self,
        rules: Rules,
        recorder: Recorder,
        conn: str,
        request: Request,
        wire_lane: str | None,
        index: int,
    ) -> None:
        self.recorder = recorder
        self.conn = conn
        self.request = request
        self.wire_lane = wire_lane
        self.first = index
        self.current = index
        self.conditions = rules.ordering.incomplete_item
        self.watched = frozenset(
            {"response.output_item.added", "response.output_item.done"}
            | ({self.conditions.forbidden_after} if self.conditions.forbidden_after else set())
        )
        self.ordering = RunOrdering(rules.ordering, self, recorder.exercise)
        self.deltas = RunDeltas(rules.deltas, self, recorder.exercise)
        self.last_seq: int | None = None
        self.ended = False
        self.terminal: Mapping[str, Any] | None = None
        self.response_id: str | None = None
        self.stream_reported = False
        self.incomplete_item: int | None = None
        self.items_added = 0
        self.items: dict[int, Any] = {}
        self.facts: ResponseFacts | None = None
        # What every event of the run must carry (RWS-EVENT-4/5) and the requirements the
        # fast path of feed() evaluates at once.
        self.expected_stream = request.lane if request.named else None
        lane_rule: tuple[str, ...] = ("RWS-EVENT-4",) if request.named else ("RWS-EVENT-5",)
        if request.null_stream_id:
            lane_rule += ("RWS-CREATE-7",)
        self.per_event: tuple[str, ...] = (*lane_rule, "RWS-SEQ-1", "RWS-SEQ-2", "RWS-SEQ-3")
        # Streaming events (deltas) repeat what the last one like them did: the fields that
        # decide how a type is taken, and per their values what was done (see feed()).
        # (A type the run keeps an account of is always taken the long way.)
        self.fields = (
            rules.streaming_fields if self.watched.isdisjoint(rules.streaming_fields) else {}
        )
        self.streamed: dict[tuple[Any, ...], _Streamed] = {}

    # --- Sink ----------------------------------------------------------------------------

    def exercise(self, requirements: tuple[str, ...]) -> None:
        """Count one evaluation of each requirement."""
        self.recorder.exercise(requirements)

    def fail(self, requirements: tuple[str, ...], message: str) -> None:
        """Report a deviation at the current record."""
        self.recorder.report(requirements, message, self.conn, (self.first, self.current))

    # --- events ----------------------------------------------------------------------------

    def feed(self, event: Mapping[str, Any], etype: str, index: int) -> None:
        """Check one event of this run."""
        self.current = index
        seq = event.get("sequence_number")
        last = self.last_seq
        # The common case in one step: an integer one above the last, the lane's stream_id.
        # Anything else takes the slow path, which names what is wrong.
        if (
            last is not None
            and seq.__class__ is int
            and seq == last + 1
            and event.get("stream_id") == self.expected_stream
            and (self.expected_stream is not None or "stream_id" not in event)
        ):
            self.last_seq = seq
            self.recorder.exercise(self.per_event)
        else:
            self._stream_id(event, etype)
            self._sequence(event, etype)
        ordering = self.ordering
        deltas = self.deltas
        fields = self.fields.get(etype)
        if fields is not None:
            # A delta: when the last event of its type equal to it in every field that
            # decides how it is taken changed no state, and nothing changed since, the
            # ordering machines evaluate the same requirements and the delta executor does
            # the same again (the work of both, without finding their plans again).
            key: tuple[Any, ...] | None
            try:
                key = (etype, *map(event.get, fields, _ABSENT))
                streamed = self.streamed.get(key)
            except TypeError:  # a list or an object where an index belongs
                key = streamed = None
            if streamed is not None:
                if streamed[0] == ordering.version and streamed[1] == deltas.version:
                    self.recorder.exercise(streamed[2])
                    deltas.replay(streamed[3], event, etype)
                    return
                self.streamed.clear()  # a state changed: no plan of before holds
            evaluated = ordering.feed(event, etype)
            plan = deltas.feed(event, etype)
            if key is not None and evaluated is not None and plan is not None:
                if len(self.streamed) >= _STREAMED:
                    self.streamed.clear()
                self.streamed[key] = (ordering.version, deltas.version, evaluated, plan)
        else:
            ordering.feed(event, etype)
            deltas.feed(event, etype)
        if etype in self.watched:
            self._watched(event, etype)
        if ordering.ended and not self.ended:
            self.ended = True
            self.terminal = event

    def _watched(self, event: Mapping[str, Any], etype: str) -> None:
        """The few event types a run keeps an account of (items, and what follows an
        incomplete one)."""
        if etype == self.conditions.forbidden_after and self.incomplete_item is not None:
            # RWS-ORDER-11: an item that ended incomplete is the last item of its run.
            self.fail(
                self.conditions.requirements,
                f"expected no item after the incomplete item {self.incomplete_item} / "
                f"actual {etype}",
            )
        if etype == "response.output_item.added":
            self.items_added += 1
        elif etype == "response.output_item.done":
            self._item_done(event)

    def _stream_id(self, event: Mapping[str, Any], etype: str) -> None:
        request = self.request
        if request.named:
            # RWS-EVENT-4: every event of a run on a named lane carries its stream_id.
            self.recorder.exercise1("RWS-EVENT-4")
            actual = event.get("stream_id")
            if actual != request.lane and not self.stream_reported:
                self.stream_reported = True
                self.fail(
                    ("RWS-EVENT-4",),
                    f"expected stream_id {short(request.lane)} on every event of the run / "
                    f"actual {short(event.get('stream_id', MISSING))} on {etype}",
                )
        else:
            # RWS-EVENT-5 (and RWS-CREATE-7 for "stream_id": null): default-lane events
            # carry no stream_id.
            self.recorder.exercise1("RWS-EVENT-5")
            if request.null_stream_id:
                self.recorder.exercise1("RWS-CREATE-7")
            if "stream_id" in event and not self.stream_reported:
                self.stream_reported = True
                requirements = (
                    ("RWS-EVENT-5", "RWS-CREATE-7") if request.null_stream_id else ("RWS-EVENT-5",)
                )
                self.fail(
                    requirements,
                    f"expected no stream_id on events of a default-lane run / actual "
                    f"{short(event['stream_id'])} on {etype}",
                )

    def _sequence(self, event: Mapping[str, Any], etype: str) -> None:
        recorder = self.recorder
        seq = event.get("sequence_number")
        # RWS-SEQ-1: an integer sequence_number on every event of a run.
        recorder.exercise1("RWS-SEQ-1")
        if not isinstance(seq, int) or isinstance(seq, bool):
            self.fail(
                ("RWS-SEQ-1",),
                f"expected an integer sequence_number on {etype} / actual {short(seq, 30)}"
                if "sequence_number" in event
                else f"expected an integer sequence_number on {etype} / actual absent",
            )
            # Count the event as numbered in turn, so one missing number is one finding.
            self.last_seq = -1 if self.last_seq is None else self.last_seq + 1
            return
        last = self.last_seq
        if last is None:
            # RWS-SEQ-3: the run's first event (response.created) SHOULD carry 0.
            recorder.exercise1("RWS-SEQ-3")
            if seq != 0:
                self.fail(("RWS-SEQ-3",), f"expected sequence_number 0 on {etype} / actual {seq}")
        else:
            # RWS-SEQ-2: strictly increasing within the run.
            recorder.exercise1("RWS-SEQ-2")
            if seq <= last:
                self.fail(
                    ("RWS-SEQ-2",),
                    f"expected sequence_number > {last} on {etype} / actual {seq}",
                )
            else:
                recorder.exercise1("RWS-SEQ-3")
                if seq != last + 1:
                    self.fail(
                        ("RWS-SEQ-3",),
                        f"expected sequence_number {last + 1} on {etype} / actual {seq}",
                    )
        self.last_seq = seq

    def _item_done(self, event: Mapping[str, Any]) -> None:
        index = event.get("output_index")
        item = event.get("item")
        if isinstance(index, int):
            self.items[index] = item
        if isinstance(item, Mapping) and item.get("status") == "incomplete":
            self.incomplete_item = index if isinstance(index, int) else -1
