"""One connection of a transcript: client messages, lanes, request outcomes, errors, the cache.

The client's ``response.create`` messages queue per lane (FIFO); each server event is routed to
a lane by its ``stream_id`` and either starts the outcome of the lane's oldest waiting request
(``response.created`` or a request-scoped ``error``, RWS-CREATE-12) or belongs to the lane's
running run. Expectations come from the rule tables: ``requests.json`` for what a message must
be answered with, ``cache.json`` for continuations, ``errors.json`` for error scopes and shapes.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from conformance.checker import model
from conformance.checker.cache import CacheModel, Prediction, ResponseFacts, facts
from conformance.checker.cache import predict as predict_cache
from conformance.checker.depth import nesting_depth, shallow_loads
from conformance.checker.ordering import short
from conformance.checker.rules import MISSING, ErrorCode, Path, Rules, resolve
from conformance.checker.run import Expectation, Request, Run
from conformance.transcript import Record

if TYPE_CHECKING:
    from conformance.checker.core import Checker

__all__ = ["Connection"]

_REPLY_TEXT: Path = ("content", 0, "text")
_CACHED_TOKENS: Path = ("response", "usage", "input_tokens_details", "cached_tokens")
_NOT_FOUND = "previous_response_not_found"


class _Lane:
    __slots__ = ("active", "pending")

    def __init__(self) -> None:
        self.pending: deque[Request] = deque()
        self.active: Run | None = None

    def busy(self) -> bool:
        return bool(self.pending) or (self.active is not None and not self.active.ended)

    def busy_for_client(self) -> bool:
        # RWS-CLIENT-4: for the client an error carrying the run's sequence_number already
        # ends the run, although the server still owes response.failed (RWS-ORDER-12).
        active = self.active
        running = active is not None and not active.ended and active.ordering.state != "erroring"
        return bool(self.pending) or running


class Connection:
    """The checker's state for one connection."""

    def __init__(
        self, checker: Checker, conn: str, principal: str | None, opened_at: float | None = None
    ) -> None:
        self.checker = checker
        self.rules: Rules = checker.rules
        self.recorder = checker.recorder
        self.conn = conn
        self.principal = principal
        self.opened_at = opened_at
        self.lanes: dict[str | None, _Lane] = {}
        self.wire_runs: dict[str | None, Run] = {}
        self.invalid_pending: deque[Request] = deque()
        self.named_lanes: set[str] = set()
        # bad frames owed an answer: (accepted codes, requirements, record index, frame kind)
        self.frames: deque[tuple[tuple[str, ...], tuple[str, ...], int, str]] = deque()
        self.steers: deque[tuple[int, Any]] = deque()
        self.not_found: set[str] = set()
        # lane -> the requirement already reported for events outside any run on it
        self.stray: dict[str | None, tuple[str, ...]] = {}
        # The first error whose code closes the connection (errors.json "closes").
        self.closing: ErrorCode | None = None
        self.cache = CacheModel()
        # closed: a close frame was seen; closed_by: whose (c2s, s2c), both once the closing
        # handshake is over (a close record without dir counts as both).
        self.closed = False
        self.closed_by: set[str] = set()
        self.late: set[str] = set()  # the kinds of traffic after a close already reported
        # pinging side (c2s, s2c) -> its pings still owed a pong: (payload, record index)
        self.pings: dict[str, list[tuple[bytes, int]]] = {}
        # run -> a steering reply numbered 0 while the run was in flight (record index): the
        # not-running form, in order only if the run's next event is its terminal event
        self.detached: dict[Run, int] = {}

    # --- helpers ---------------------------------------------------------------------------

    def _fail(self, requirements: tuple[str, ...], message: str, *records: int) -> None:
        self.recorder.report(requirements, message, self.conn, records)

    def _lane(self, key: str | None) -> _Lane:
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = _Lane()
        return lane

    @staticmethod
    def _wire(event: Mapping[str, Any]) -> str | None:
        value = event.get("stream_id")
        if value is None or isinstance(value, str):
            return value
        return repr(value)

    # --- client to server --------------------------------------------------------------------

    def client_text(self, record: Record) -> None:
        """A text message from the client."""
        text = record.text or ""
        deep = self.rules.requests.deep
        # RWS-CREATE-21: a message nested past the limit may also be answered invalid_json,
        # and is read shallowly (its deep values replaced), as recursive parsers fail on it.
        too_deep = deep is not None and nesting_depth(text, int(deep["max_depth"])) > int(
            deep["max_depth"]
        )
        try:
            obj = (
                shallow_loads(text, int(deep["max_depth"]))
                if deep and too_deep
                else json.loads(text)
            )
        except (ValueError, RecursionError):
            self._bad_frame("not_json", record.index)
            return
        if not isinstance(obj, dict):
            self._bad_frame("not_object", record.index)
            return
        self.recorder.exercise1("RWS-TRANS-6")
        etype = obj.get("type")
        # A type that is not a string (an array, an object) is an unknown type too.
        if not isinstance(etype, str) or etype not in self.rules.requests.client_events:
            self._bad_frame("unknown_type", record.index, deep=too_deep)
        elif etype == "response.create":
            self._create(obj, record.index, record.ts, deep=too_deep)
        else:
            self._steer(obj, record.index)

    def client_binary(self, record: Record) -> None:
        """A binary message from the client."""
        self._bad_frame("binary", record.index)

    def _bad_frame(self, kind: str, index: int, *, deep: bool = False) -> None:
        row = self.rules.requests.frames.get(kind)
        if row is not None:
            codes: tuple[str, ...] = (str(row["code"]),)
            requirements = tuple(row.get("requirements", ()))
            if deep and self.rules.requests.deep is not None:
                # RWS-CREATE-21: or invalid_json, from a parser that stops at the depth.
                deep_row = self.rules.requests.deep
                codes = tuple(dict.fromkeys((*codes, str(deep_row["frame_code"]))))
                requirements = tuple(dict.fromkeys((*requirements, *deep_row["requirements"])))
            self.frames.append((codes, requirements, index, kind))
        for rule in self.rules.requests.client:
            if rule.get("check") == "frame" and rule.get("frame") == kind:
                requirements = tuple(rule.get("requirements", ()))
                self.recorder.exercise(requirements)
                self._fail(
                    requirements,
                    f"expected one JSON object per text message / actual {kind.replace('_', ' ')}",
                    index,
                )

    def _create(
        self, body: dict[str, Any], index: int, sent_at: float | None, *, deep: bool = False
    ) -> None:
        rules = self.rules.requests
        raw_sid = body.get("stream_id")
        null_sid = "stream_id" in body and raw_sid is None
        named = isinstance(raw_sid, str) and rules.stream_id_pattern.fullmatch(raw_sid) is not None
        invalid = raw_sid is not None and not named
        lane_key = raw_sid if named else None
        lane = self._lane(lane_key)
        previous = body.get("previous_response_id")
        request = Request(
            index=index,
            body=body,
            lane=lane_key,
            named=named,
            invalid_stream_id=invalid,
            null_stream_id=null_sid,
            previous=previous if isinstance(previous, str) else None,
            store=body.get("store") is not False,
            generate=body.get("generate") is not False,
        )
        self._client_checks(body, request, lane, index)
        request.after_limit = self._after_limit(sent_at)
        request.expectation = self._expectation(body, request, lane, sent_at)
        if deep:
            request.expectation = self._deep_expectation(request.expectation)
        if named and request.expectation is None:
            self.named_lanes.add(str(raw_sid))
        if request.previous is not None and request.expectation is None:
            request.prediction = self._predict(request)
        if invalid:
            self.invalid_pending.append(request)
        else:
            lane.pending.append(request)

    def _client_checks(
        self, body: Mapping[str, Any], request: Request, lane: _Lane, index: int
    ) -> None:
        config = self.checker.config
        for rule in self.rules.requests.client:
            check = rule.get("check")
            requirements = tuple(rule.get("requirements", ()))
            if check == "field_value":
                field = str(rule["field"])
                self.recorder.exercise(requirements)
                if field in body and _same(body[field], rule.get("value")):
                    self._fail(
                        requirements,
                        f"expected no {field}: {json.dumps(rule.get('value'))} in "
                        f"response.create / actual {field}: {short(body[field])}",
                        index,
                    )
            elif check == "field_type":
                field = str(rule["field"])
                self.recorder.exercise(requirements)
                if isinstance(body.get(field), dict):
                    self._fail(
                        requirements,
                        f"expected the request body flattened into response.create / "
                        f"actual it is wrapped in {field!r}",
                        index,
                    )
            elif check == "lane_busy":
                policy = config.parameters.get(str(rule.get("parameter")), "")
                if policy == rule.get("unless"):
                    continue
                self.recorder.exercise(requirements)
                if lane.busy_for_client():
                    self._fail(
                        requirements,
                        f"expected no second response.create on lane "
                        f"{_lane_name(request.lane)} before its run ended (busy-lane={policy}) "
                        f"/ actual one sent while the lane is busy",
                        index,
                    )
            elif check == "retry_after_not_found" and request.previous is not None:
                self.recorder.exercise(requirements)
                if request.previous in self.not_found:
                    self._fail(
                        requirements,
                        f"expected the full context without previous_response_id after "
                        f"{rule.get('code')} / actual previous_response_id "
                        f"{short(request.previous)} sent again",
                        index,
                    )

    def _expectation(
        self, body: Mapping[str, Any], request: Request, lane: _Lane, sent_at: float | None
    ) -> Expectation | None:
        rows = self.rules.requests.create
        for rule in rows:
            if not self._applies(rule, body, request, lane, sent_at):
                continue
            group = rule.get("group")
            # RWS-CREATE-17: every applicable row of the first one's group is a defect the
            # server may report; otherwise the first applicable row alone.
            chosen = (
                [
                    r
                    for r in rows
                    if r.get("group") == group and self._applies(r, body, request, lane, sent_at)
                ]
                if group is not None
                else [rule]
            )
            codes: list[str] = []
            requirements: list[str] = []
            params: list[tuple[str, str | None, tuple[str, ...]]] = []
            for row in chosen:
                row_requirements = tuple(row.get("requirements", ()))
                for code in row.get("codes") or [row.get("code")]:
                    codes.append(str(code))
                    params.append((str(code), row.get("param"), row_requirements))
                requirements.extend(row_requirements)
            return Expectation(
                codes=tuple(dict.fromkeys(codes)),
                requirements=tuple(dict.fromkeys(requirements)),
                reason=" and ".join(dict.fromkeys(str(r.get("check")) for r in chosen)),
                params=tuple(params),
                run_allowed=all(r.get("expect") == "error_or_run" for r in chosen),
                run_forbidden_by=tuple(
                    dict.fromkeys(
                        rid
                        for r in chosen
                        if r.get("expect") != "error_or_run"
                        for rid in r.get("requirements", ())
                    )
                ),
            )
        return None

    def _deep_expectation(self, expectation: Expectation | None) -> Expectation:
        """RWS-CREATE-21: a too-deep request may also be refused as what the server cannot read.

        Besides what its shallow reading predicts, a request-scoped error of the deep row's
        codes or the frame-scoped ``frame_code`` answers it; a run only when nothing else was
        predicted.
        """
        row = self.rules.requests.deep
        assert row is not None
        codes = (*row["codes"], str(row["frame_code"]))
        requirements = tuple(row["requirements"])
        if expectation is None:
            return Expectation(
                codes=tuple(codes),
                requirements=requirements,
                reason="nested deeper than the limit",
                run_allowed=True,
                frame_code=str(row["frame_code"]),
            )
        return Expectation(
            codes=tuple(dict.fromkeys((*expectation.codes, *codes))),
            requirements=tuple(dict.fromkeys((*expectation.requirements, *requirements))),
            reason=f"{expectation.reason} and nested deeper than the limit",
            params=expectation.params,
            run_allowed=expectation.run_allowed,
            run_forbidden_by=expectation.run_forbidden_by,
            frame_code=str(row["frame_code"]),
        )

    def _applies(
        self,
        rule: Mapping[str, Any],
        body: Mapping[str, Any],
        request: Request,
        lane: _Lane,
        sent_at: float | None,
    ) -> bool:
        config = self.checker.config
        check = rule.get("check")
        applies = False
        if check == "stream_id_invalid":
            applies = request.invalid_stream_id
        elif check == "named_lane_limit" and request.named:
            limit = _int(config.parameters.get(str(rule.get("parameter"))))
            applies = (
                limit is not None
                and request.lane not in self.named_lanes
                and len(self.named_lanes) >= limit
            )
        elif check == "field_value":
            field = str(rule["field"])
            applies = field in body and _same(body[field], rule.get("value"))
        elif check == "lane_busy":
            policy = config.parameters.get(str(rule.get("parameter")), "")
            applies = policy == rule.get("policy") and lane.busy()
        elif check == "connection_age":
            age = _float(config.parameters.get(str(rule.get("parameter"))))
            margin = _float(rule.get("margin_seconds")) or 0.0
            applies = (
                age is not None
                and self.opened_at is not None
                and sent_at is not None
                and sent_at - self.opened_at > age + margin
            )
        elif check == "schema_invalid":
            applies = not self.checker.validator.is_valid(body, direction="client")
        return applies

    def _limit_may_answer(self, request: Request, error_code: str | None) -> bool:
        """Whether the connection-limit error is an acceptable answer whatever was predicted.

        RWS-LIMIT-1: a request sent within the clock margin of max-connection-age may find the
        connection already at its limit; the limit error then takes precedence over any other
        answer (a busy-lane refusal, say) the request would otherwise get.
        """
        entry = self.rules.errors.get(error_code) if error_code is not None else None
        return (
            request.after_limit
            and entry is not None
            and entry.scope == "connection"
            and entry.closes
        )

    def _after_limit(self, sent_at: float | None, sign: float = -1.0) -> bool:
        """Whether the connection may have reached max-connection-age (within the margin).

        ``sign`` +1 asks instead whether it had surely reached it (past the margin).
        """
        if self.opened_at is None or sent_at is None:
            return False
        for rule in self.rules.requests.create:
            if rule.get("check") == "connection_age":
                age = _float(self.checker.config.parameters.get(str(rule.get("parameter"))))
                margin = _float(rule.get("margin_seconds")) or 0.0
                return age is not None and sent_at - self.opened_at > age + sign * margin
        return False

    def _started_after_limit(self, request: Request, index: int, ts: float | None) -> None:
        # RWS-LIMIT-12: a request queued before the age limit does not start after it (one
        # sent after it is RWS-LIMIT-1's, judged by its expectation).
        requirements = self.rules.requests.limit_no_queued_start
        if not requirements or request.after_limit or not self._after_limit(ts, sign=1.0):
            return
        self.recorder.exercise(requirements)
        self._fail(
            requirements,
            f"expected no run to start after max-connection-age / actual response.created for "
            f"the request of record {request.index}, queued before the limit",
            request.index,
            index,
        )

    def _predict(self, request: Request) -> Prediction:
        assert request.previous is not None
        found = facts(
            self.cache,
            self.checker.knowledge,
            request.previous,
            request.lane,
            self.conn,
            self.principal,
        )
        entry = self.cache.requirements_of(request.previous)
        return predict_cache(self.rules.cache, found, entry, self.checker.config.parameters)

    def _steer(self, body: Mapping[str, Any], index: int) -> None:
        # RWS-STEER-9: a client never sends stream_id in response.steer.
        self.recorder.exercise1("RWS-STEER-9")
        if "stream_id" in body:
            self._fail(
                ("RWS-STEER-9",),
                f"expected no stream_id in response.steer / actual {short(body['stream_id'])}",
                index,
            )
        self.steers.append((index, body.get("previous_response_id")))

    # --- server to client --------------------------------------------------------------------

    def server_event(
        self, event: dict[str, Any], etype: str, index: int, ts: float | None = None
    ) -> None:
        """A server event that is a JSON object with a known type (``ts``: when it came)."""
        if etype == "error":
            self._error(event, index)
        elif etype.startswith("response.steer."):
            self._steer_event(event, etype, index)
        else:
            self._run_event(event, etype, index, ts)

    def _run_event(self, event: dict[str, Any], etype: str, index: int, ts: float | None) -> None:
        wire = self._wire(event)
        if etype == "response.created":
            self._created(event, wire, index, ts)
            return
        run = self.wire_runs.get(wire)
        if run is None:
            # An event with the wrong stream_id (no run ever ran on its lane): when exactly
            # one run is running, it is that run's (which then reports it, RWS-EVENT-4/5).
            running = {id(r): r for r in self.wire_runs.values() if not r.ended}
            if len(running) == 1:
                run = next(iter(running.values()))
        if run is None or run.ended:
            # One finding per lane for a stream of events outside any run, until the next
            # response.created on the lane.
            lane = self.lanes.get(wire)
            if wire in self.stray:
                self.recorder.exercise(self.stray[wire])
                return
            if run is not None:
                self.stray[wire] = ("RWS-ORDER-2",)
                self._fail(
                    ("RWS-ORDER-2",),
                    f"expected no event on lane {_lane_name(wire)} after the run's terminal "
                    f"event / actual {etype}",
                    run.first,
                    index,
                )
            elif lane is not None and lane.pending:
                self.stray[wire] = ("RWS-ORDER-1",)
                self._fail(
                    ("RWS-ORDER-1",),
                    f"expected response.created as the first event of the run on lane "
                    f"{_lane_name(wire)} / actual {etype}",
                    lane.pending[0].index,
                    index,
                )
            else:
                self.stray[wire] = ("RWS-CREATE-12",)
                self._fail(
                    ("RWS-CREATE-12",),
                    f"expected no event on lane {_lane_name(wire)} (no run and no waiting "
                    f"response.create) / actual {etype}",
                    index,
                )
            return
        if self.detached:
            self._check_detached(run, etype, index)
        run.feed(event, etype, index)
        if run.ended:
            self._run_ended(run, index)

    def _check_detached(self, run: Run, etype: str, index: int) -> None:
        """The run's next event after a steering reply numbered 0 (see _steer_event)."""
        reply = self.detached.pop(run, None)
        if reply is None or etype in self.rules.deltas.terminal:
            return
        # RWS-SEQ-5: the target went on after the reply, so it was running when the reply was
        # sent, and the reply had to take the next number of its sequence.
        self.recorder.report(
            ("RWS-SEQ-5",),
            f"expected sequence_number > {run.last_seq} on the steering reply (its target was "
            f"still running: {etype} followed) / actual 0",
            self.conn,
            (run.first, reply, index),
        )

    def _take_request(self, wire: str | None) -> Request | None:
        lane = self.lanes.get(wire)
        if lane is not None and lane.pending:
            return lane.pending.popleft()
        # A run whose events carry the wrong stream_id: when exactly one lane has a request
        # waiting, the run is that request's (its events are then checked against its lane).
        waiting = [ln.pending for ln in self.lanes.values() if ln.pending]
        if self.invalid_pending:
            waiting.append(self.invalid_pending)
        if len(waiting) == 1:
            return waiting[0].popleft()
        return None

    def _created(
        self, event: dict[str, Any], wire: str | None, index: int, ts: float | None
    ) -> None:
        self.stray.pop(wire, None)
        if self.closing is not None:
            self._fail(
                self.closing.requirements,
                f"expected no new run after error {self.closing.code} / actual response.created",
                index,
            )
        request = self._take_request(wire)
        self.recorder.exercise1("RWS-CREATE-12")
        if request is None:
            self._fail(
                ("RWS-CREATE-12",),
                f"expected a run only as the answer to a response.create on lane "
                f"{_lane_name(wire)} / actual response.created with no request waiting",
                index,
            )
            return
        self._started_after_limit(request, index, ts)
        lane = self._lane(request.lane)
        # RWS-LANE-1: runs of one lane do not overlap.
        self.recorder.exercise1("RWS-LANE-1")
        previous = lane.active
        if previous is not None and not previous.ended:
            self._fail(
                ("RWS-LANE-1",),
                f"expected the run on lane {_lane_name(request.lane)} to end before the next "
                f"starts / actual response.created while the run of record "
                f"{previous.first} is still running",
                previous.first,
                index,
            )
        self._judge_outcome(request, None, index)
        run = Run(self.rules, self.recorder, self.conn, request, wire, index)
        lane.active = run
        self.wire_runs[wire] = run
        response = event.get("response")
        rid = response.get("id") if isinstance(response, dict) else None
        if isinstance(rid, str):
            knowledge = self.checker.knowledge
            # RWS-EVENT-7: a response id is never used for a second response.
            self.recorder.exercise1("RWS-EVENT-7")
            if rid in knowledge.responses:
                self._fail(
                    ("RWS-EVENT-7",),
                    f"expected a new response id / actual {short(rid)} used before",
                    index,
                )
            run.response_id = rid
            run.facts = ResponseFacts(
                id=rid,
                conn=self.conn,
                principal=self.principal,
                store=request.store,
                lane=request.lane,
                context=self._context(request),
            )
            knowledge.responses[rid] = run.facts
        run.feed(event, "response.created", index)

    def _context(self, request: Request) -> list[Any] | None:
        """A.1: the context of the run (None when the checker cannot know it)."""
        normalized = model.normalize_input(request.body.get("input"))
        if normalized is None:
            return None
        if request.previous is None:
            return normalized
        before = self.checker.knowledge.responses.get(request.previous)
        if before is None or before.context is None:
            return None
        request.restored = [*before.context, *before.output]
        return [*request.restored, *normalized]

    def _judge_outcome(self, request: Request, error_code: str | None, index: int) -> None:
        """Compare a request's outcome (a run when error_code is None) with its prediction."""
        outcome = "a run" if error_code is None else f"error {error_code}"
        expectation = request.expectation
        if expectation is not None:
            self.recorder.exercise(expectation.requirements)
            if error_code is None and expectation.run_allowed:
                return
            if error_code not in expectation.codes and not self._limit_may_answer(
                request, error_code
            ):
                wanted = f"error {' or '.join(expectation.codes)}"
                if expectation.run_allowed:
                    wanted = f"a run or {wanted}"
                failing = expectation.requirements
                if error_code is None and expectation.run_forbidden_by:
                    failing = expectation.run_forbidden_by
                self._fail(
                    failing,
                    f"expected {wanted} ({expectation.reason}) / actual {outcome}",
                    request.index,
                    index,
                )
            return
        if request.prediction is None:
            return
        sent = request.prediction
        now = self._predict(request)
        # The cache changed while the request waited: no verdict, unless the previous
        # response was not known yet when the request was sent (a pipelined continuation).
        changed = (sent.expect, sent.code) != (now.expect, now.code)
        if changed and (sent.facts.get("known") is not False or now.expect == "open"):
            return
        request.judged = now
        if now.expect == "open":
            if now.requirements:
                self._fail(
                    now.requirements,
                    f"observed {outcome} for a continuation of {now.describe()}",
                    request.index,
                    index,
                )
            return
        # Only the pair "run" / the predicted error code is judged: an unrelated error (a rate
        # limit, a validation error) says nothing about the previous response.
        if now.expect == "served":
            judged, broken = True, error_code == _NOT_FOUND
            wanted = f"no {_NOT_FOUND} (a run)"
        else:
            judged, broken = error_code in (None, now.code), error_code is None
            wanted = f"error {now.code}"
        if not judged:
            return
        self.recorder.exercise(now.requirements)
        if broken:
            self._fail(
                now.requirements,
                f"expected {wanted} for a continuation of {now.describe()} / actual {outcome}",
                request.index,
                index,
            )

    def _run_ended(self, run: Run, index: int) -> None:
        terminal = run.terminal or {}
        etype = str(terminal.get("type"))
        # The terminal event's type names how the run ended: response.<status>.
        status = etype.removeprefix("response.")
        request = run.request
        ordering = self.rules.ordering
        # RWS-ORDER-11: a run with an incomplete item ends response.incomplete.
        condition = ordering.incomplete_item
        if run.incomplete_item is not None:
            self.recorder.exercise(condition.requirements)
            if etype != condition.run_ends:
                run.fail(
                    condition.requirements,
                    f"expected {condition.run_ends} after the incomplete item "
                    f"{run.incomplete_item} / actual {etype}",
                )
        # RWS-CREATE-6: generate: false completes with no output.
        if not request.generate:
            gen = ordering.generate_false
            self.recorder.exercise(gen.requirements)
            if etype != gen.run_ends:
                run.fail(
                    gen.requirements,
                    f"expected {gen.run_ends} for generate: false / actual {etype}",
                )
            if run.items_added:
                run.fail(
                    gen.requirements,
                    f"expected no output items for generate: false / actual {run.items_added}",
                )
            for assertion in gen.asserts:
                ok, actual = assertion.holds(terminal)
                if not ok:
                    run.fail(
                        assertion.requirements,
                        f"expected {assertion.expected_text()} for generate: false / actual "
                        f"{short(actual)}",
                    )
        if run.facts is not None:
            run.facts.status = status
            run.facts.output = [run.items[k] for k in sorted(run.items)]
        self._model_checks(run, terminal, etype)
        self.cache.apply(
            self.rules.cache,
            self.checker.knowledge,
            "run_ended",
            request.lane,
            request.body,
            run.response_id,
            status,
        )

    def _model_checks(self, run: Run, terminal: Mapping[str, Any], etype: str) -> None:
        request = run.request
        if (
            "conformance-model" not in self.checker.config.profiles
            or request.body.get("model") != model.MODEL_ID
            or etype not in ("response.completed", "response.incomplete")
            or run.facts is None
            or run.facts.context is None
        ):
            return
        judged = request.judged
        hit = judged is not None and judged.facts.get("cached") in ("own_lane", "other_lane")
        if request.previous is None:
            requirements: tuple[str, ...] = ("RWS-LANE-8", "RWS-MODEL-2")
        elif judged is not None and judged.expect == "served":
            requirements = judged.requirements
        else:
            requirements = ("RWS-MODEL-2",)
        context = run.facts.context
        for item in run.facts.output:
            text = resolve(item, _REPLY_TEXT)
            match = model.CONTEXT_REPLY.fullmatch(text) if isinstance(text, str) else None
            if match is None:
                continue
            # RWS-CACHE-2: the context is the previous context, its output, the new input.
            self.recorder.exercise(requirements)
            count, dig = int(match.group(1)), match.group(2)
            want = (len(context), model.digest(context))
            if (count, dig) != want:
                run.fail(
                    requirements,
                    f"expected rws:context reply items={want[0]} digest={want[1][:12]}... / "
                    f"actual items={count} digest={dig[:12]}...",
                )
        # RWS-MODEL-3: cached_tokens = tokens of what was restored from the connection cache.
        if request.previous is None or (judged is not None and judged.expect == "served"):
            expected = model.tokens(request.restored) if hit and request.restored else 0
            actual = resolve(
                terminal, ("response", "usage", "input_tokens_details", "cached_tokens")
            )
            self.recorder.exercise1("RWS-MODEL-3")
            if actual != expected:
                run.fail(
                    ("RWS-MODEL-3",),
                    f"expected usage.input_tokens_details.cached_tokens {expected} / actual "
                    f"{short(actual)}",
                )

    # --- errors ------------------------------------------------------------------------------

    def _error(self, event: dict[str, Any], index: int) -> None:
        registry = self.rules.errors
        body = event.get("error")
        # RWS-ERR-1: the wrapped shape, never the flat HTTP-streaming shape.
        self.recorder.exercise1("RWS-ERR-1")
        code: Any = None
        if not isinstance(body, dict):
            self._fail(
                ("RWS-ERR-1",),
                f"expected an 'error' object in the error event / actual "
                f"{short(body)}"
                + (" (flat shape)" if "code" in event or "message" in event else ""),
                index,
            )
        else:
            code = body.get("code")
            self._error_shape(event, body, index)
        entry = registry.get(code) if isinstance(code, str) else None
        wire = self._wire(event)
        has_seq = "sequence_number" in event
        run = self.wire_runs.get(wire)
        if has_seq and run is not None and not run.ended:
            # A mid-run error (RWS-ORDER-12): part of the run, followed by response.failed.
            if self.detached:
                self._check_detached(run, "error", index)
            run.feed(event, "error", index)
            return
        scope = entry.scope if entry is not None else "request"
        code_text = code if isinstance(code, str) else short(code)
        # RWS-SEQ-4: rejections and connection-scoped errors carry no sequence_number.
        self.recorder.exercise1("RWS-SEQ-4")
        if has_seq:
            self._fail(
                ("RWS-SEQ-4",),
                f"expected no sequence_number on error {code_text} outside a run / actual "
                f"{short(event['sequence_number'])}",
                index,
            )
        mode = entry.stream_id if entry is not None else "lane"
        if scope in ("frame", "connection") or mode == "never":
            # RWS-EVENT-5: errors not about a lane carry no stream_id.
            requirements = ("RWS-LANE-3",) if scope == "request" else ("RWS-EVENT-5",)
            self.recorder.exercise(requirements)
            if "stream_id" in event:
                self._fail(
                    requirements,
                    f"expected no stream_id on error {code_text} / actual "
                    f"{short(event['stream_id'])}",
                    index,
                )
        if scope == "frame":
            self._frame_error(code_text, index)
            return
        if entry is not None and entry.closes and self.closing is None:
            # errors.json: after this error the server starts no run and closes the
            # connection with the registry's close code (RWS-LIMIT-1/2).
            self.closing = entry
        if scope == "connection":
            # RWS-LIMIT-1: the limit error answers every waiting request sent after the limit
            # (requests.json); otherwise the oldest waiting request (a server may answer the
            # requests queued at the limit with it), or it is unsolicited (RWS-LIMIT-2).
            answered = self._after_limit_waiting() if entry is not None and entry.closes else []
            if not answered:
                oldest = self._oldest_waiting()
                answered = [oldest] if oldest is not None else []
            for waiting in answered:
                self._remove(waiting)
                if waiting.expectation is not None:
                    self._judge_outcome(waiting, code_text, index)
            if answered and entry is not None and entry.closes:
                self._limit_after_runs(code_text, index)
            return
        param = body.get("param") if isinstance(body, dict) else None
        request = self._request_for_error(mode, wire, code_text, param, index)
        self.recorder.exercise1("RWS-CREATE-12")
        if request is None:
            self._fail(
                ("RWS-CREATE-12",),
                f"expected a request-scoped error only as the answer to a response.create on "
                f"lane {_lane_name(wire)} / actual error {code_text} with no request waiting",
                index,
            )
            return
        self._request_error(request, event, code_text, mode, index)

    def _error_shape(self, event: Mapping[str, Any], body: Mapping[str, Any], index: int) -> None:
        # RWS-ERR-2 (status, error.code, error.message, agreement with the registry) and
        # RWS-ERR-10 (error.type): the fields errors.json's event_fields names.
        code = body.get("code")
        for row in self.rules.error_fields:
            requirements = tuple(row["requirements"])
            self.recorder.exercise(requirements)
            problems = [_field_problem(event, spec) for spec in row["fields"]]
            found = [p for p in problems if p is not None]
            if row.get("registry"):
                found.extend(self._registry_problems(event, body))
            if found:
                wanted = ", ".join(f"`{spec['field']}`" for spec in row["fields"])
                extra = " as the registry gives them for the code" if row.get("registry") else ""
                self._fail(
                    requirements,
                    f"expected {wanted}{extra} / actual an error event {short(code)} "
                    + "; ".join(found),
                    index,
                )

    def _registry_problems(self, event: Mapping[str, Any], body: Mapping[str, Any]) -> list[str]:
        """Where the error event disagrees with the registry's entry for its code."""
        code = body.get("code")
        entry = self.rules.errors.get(code) if isinstance(code, str) else None
        if entry is None:
            return []
        problems = []
        status = event.get("status")
        if entry.status is not None and isinstance(status, int) and status != entry.status:
            problems.append(f"status {status} (registry: {entry.status})")
        if entry.type is not None and body.get("type") not in (entry.type, None, MISSING):
            problems.append(f"error.type {short(body.get('type'))} (registry: {entry.type})")
        if entry.param_fixed and body.get("param") != entry.param:
            problems.append(
                f"error.param {short(body.get('param', MISSING))} (registry: {short(entry.param)})"
            )
        return problems

    def _frame_error(self, code: str, index: int) -> None:
        # RWS-CREATE-21: a frame-scoped error may answer a too-deep response.create instead,
        # when that request is older than the oldest bad frame still owed an answer.
        deep = [
            r
            for ln in self.lanes.values()
            for r in ln.pending
            if r.expectation is not None and r.expectation.frame_code == code
        ]
        oldest_deep = min(deep, key=lambda r: r.index) if deep else None
        if oldest_deep is not None and (not self.frames or self.frames[0][2] > oldest_deep.index):
            self._remove(oldest_deep)
            self._judge_outcome(oldest_deep, code, index)
            return
        if not self.frames:
            return
        expected, requirements, frame_index, _ = self.frames.popleft()
        self.recorder.exercise(requirements)
        if code not in expected:
            self._fail(
                requirements,
                f"expected error {' or '.join(expected)} for the message of record "
                f"{frame_index} / actual error {code}",
                frame_index,
                index,
            )

    def _oldest_waiting(self) -> Request | None:
        candidates = [ln.pending[0] for ln in self.lanes.values() if ln.pending]
        if self.invalid_pending:
            candidates.append(self.invalid_pending[0])
        return min(candidates, key=lambda r: r.index) if candidates else None

    def _limit_after_runs(self, code: str, index: int) -> None:
        # RWS-LIMIT-11: the limit error that answers a request waits for the runs in flight,
        # which a client could otherwise take it to end (it carries no stream_id).
        requirements = self.rules.requests.limit_after_runs
        self.recorder.exercise(requirements)
        running = sorted(r.first for r in self.wire_runs.values() if not r.ended)
        if running:
            self._fail(
                requirements,
                f"expected error {code} after the terminal events of the runs in flight / "
                f"actual while the run of record {running[0]} is running",
                running[0],
                index,
            )

    def _after_limit_waiting(self) -> list[Request]:
        waiting = [r for ln in self.lanes.values() for r in ln.pending if r.after_limit]
        waiting += [r for r in self.invalid_pending if r.after_limit]
        return sorted(waiting, key=lambda r: r.index)

    def _remove(self, request: Request) -> None:
        if request.invalid_stream_id:
            self.invalid_pending.remove(request)
        else:
            self.lanes[request.lane].pending.remove(request)

    def _request_for_error(
        self, mode: str, wire: str | None, code: str, param: Any, index: int
    ) -> Request | None:
        if mode == "never":
            if self.invalid_pending:
                return self.invalid_pending.popleft()
            return self._take_request(None)
        if mode == "rejected":
            lane = self.lanes.get(wire)
            return lane.pending.popleft() if lane is not None and lane.pending else None
        lane = self.lanes.get(wire)
        if lane is None or not lane.pending:
            return self._take_request(wire)
        rules = self.rules.requests
        order = rules.order_requirements
        self.recorder.exercise(order)
        head = lane.pending[0]
        request = head
        if not _expects(head, code, param):
            # RWS-LANE-9: an error that a later request of the lane must get, and the oldest
            # need not, is that later request's outcome, sent before the oldest request's.
            later = next((r for r in lane.pending if _expects(r, code, param)), None)
            if later is not None:
                request = later
                self._fail(
                    order,
                    f"expected the outcome of the response.create of record {head.index} on "
                    f"lane {_lane_name(wire)} first (request order) / actual error {code}, the "
                    f"answer to the later response.create of record {later.index}",
                    head.index,
                    later.index,
                    index,
                )
        lane.pending.remove(request)
        queued = rules.queued_behind_run
        active = lane.active
        if (
            queued is not None
            and active is not None
            and not active.ended
            and self.checker.config.parameters.get(str(queued.get("parameter")))
            == queued.get("policy")
            and code not in queued.get("except_codes", ())
        ):
            # RWS-LANE-9: a request queued behind a run gets its error after the run's
            # terminal event.
            self._fail(
                order,
                f"expected error {code} for the response.create of record {request.index}, "
                f"queued behind the run of record {active.first}, after that run's terminal "
                f"event / actual while the run is running",
                request.index,
                active.first,
                index,
            )
        return request

    def _request_error(
        self,
        request: Request,
        event: Mapping[str, Any],
        code: str,
        mode: str,
        index: int,
    ) -> None:
        if mode == "lane":
            if request.named:
                # RWS-EVENT-4: a request-scoped error for a named lane carries its stream_id.
                self.recorder.exercise1("RWS-EVENT-4")
                if event.get("stream_id") != request.lane:
                    self._fail(
                        ("RWS-EVENT-4",),
                        f"expected stream_id {short(request.lane)} on error {code} / actual "
                        f"{short(event.get('stream_id', MISSING))}",
                        request.index,
                        index,
                    )
            else:
                self.recorder.exercise1("RWS-EVENT-5")
                if "stream_id" in event:
                    self._fail(
                        ("RWS-EVENT-5",),
                        f"expected no stream_id on error {code} for a default-lane request / "
                        f"actual {short(event['stream_id'])}",
                        request.index,
                        index,
                    )
        self._judge_outcome(request, code, index)
        expectation = request.expectation
        if expectation is not None and code in expectation.codes:
            body = event.get("error")
            param = body.get("param") if isinstance(body, dict) else None
            if not expectation.param_ok(code, param):
                wanted = " or ".join(short(p) for p in expectation.params_for(code))
                self._fail(
                    expectation.requirements_for(code),
                    f"expected error.param {wanted} / actual {short(param)}",
                    request.index,
                    index,
                )
        if code == "previous_response_not_found" and request.previous is not None:
            self.not_found.add(request.previous)
        if not request.invalid_stream_id:
            self.cache.apply(
                self.rules.cache,
                self.checker.knowledge,
                "request_error",
                request.lane,
                request.body,
                evicts=self.rules.evicts(code),
            )

    # --- steering ----------------------------------------------------------------------------

    def _steer_event(self, event: dict[str, Any], etype: str, index: int) -> None:
        steer = event.get("steer")
        steer = steer if isinstance(steer, dict) else {}
        target = steer.get("previous_response_id")
        wire = self._wire(event)
        run = self.wire_runs.get(wire)
        # RWS-STEER-3: steering events the grammar puts inside a run (ordering.json) draw their
        # sequence numbers from the running target's counter.
        in_run = etype in self.checker.run_tokens
        if in_run and run is not None and not run.ended and run.response_id == target:
            # RWS-SEQ-5: the next number of the running target, or 0 when it is not running.
            self.recorder.exercise1("RWS-SEQ-5")
            seq = event.get("sequence_number")
            if seq.__class__ is int and seq == 0 and run.last_seq is not None:
                # A reply for a target that is not running carries 0 and belongs to no run's
                # sequence; the server may have ended the target (committed its terminal
                # event) before that event is on the wire. Judged at the run's next event.
                self.detached[run] = index
            else:
                if self.detached:
                    self._check_detached(run, etype, index)
                run.feed(event, etype, index)
        is_reply = etype == "response.steer.accepted" or (
            etype == "response.steer.failed" and "id" not in steer
        )
        if is_reply:
            self._steer_reply(event, etype, target, index)
        elif etype == "response.steer.pending":
            # RWS-STEER-6: pending only after the target's response.completed.
            self.recorder.exercise1("RWS-STEER-6")
            known = (
                self.checker.knowledge.responses.get(target) if isinstance(target, str) else None
            )
            if known is None or known.status != "completed":
                self._fail(
                    ("RWS-STEER-6",),
                    f"expected response.steer.pending after the target's response.completed / "
                    f"actual target {short(target)} "
                    + ("unknown" if known is None else f"status {known.status or 'running'}"),
                    index,
                )

    def _steer_reply(self, event: Mapping[str, Any], etype: str, target: Any, index: int) -> None:
        steering = "steering" in self.checker.config.profiles
        match = next((s for s in self.steers if s[1] == target), None)
        if match is None and self.steers:
            match = self.steers[0]
        requirement = "RWS-STEER-2" if steering else "RWS-STEER-1"
        self.recorder.exercise1(requirement)
        if match is None:
            self._fail(
                (requirement,),
                f"expected a steering reply only to a response.steer / actual {etype}",
                index,
            )
            return
        self.steers.remove(match)
        if not steering:
            error = event.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            if etype != "response.steer.failed" or code != "steering_not_supported":
                self._fail(
                    ("RWS-STEER-1",),
                    f"expected response.steer.failed with steering_not_supported (no steering "
                    f"profile) / actual {etype} {short(code)}",
                    match[0],
                    index,
                )

    # --- pings -------------------------------------------------------------------------------

    def control(self, record: Record) -> None:
        """A WebSocket ping or pong (requests.json "pings", RFC 6455 section 5.5.2/5.5.3)."""
        side = record.dir or ""
        other = _OTHER.get(side, "")
        payload = record.data or b""
        if record.kind == "ping":
            # A side that has sent its close frame sends nothing more, a pong included.
            if other not in self.closed_by:
                self.pings.setdefault(side, []).append((payload, record.index))
            return
        pending = self.pings.get(other)
        if not pending:
            return  # an unsolicited pong (a heartbeat) is allowed
        for position, (ping, _) in enumerate(pending):
            if ping == payload:
                # RWS-TRANS-9 / RWS-CLIENT-9: answered; a pong for the latest of several pings
                # answers the earlier ones too.
                requirements = self.rules.requests.pings.get(other, ())
                for _ in range(position + 1):
                    self.recorder.exercise(requirements)
                del pending[: position + 1]
                return

    def unanswered(self, closing_side: str | None, index: int | None) -> None:
        """The side ``closing_side`` closes (None: the connection ended): its pongs are due."""
        sides = [_OTHER[closing_side]] if closing_side in _OTHER else list(_OTHER)
        for pinger in sides:
            pending = self.pings.pop(pinger, None)
            if not pending:
                continue
            requirements = self.rules.requests.pings.get(pinger, ())
            who = "server" if pinger == "c2s" else "client"
            for payload, ping_index in pending:
                self.recorder.exercise(requirements)
                self._fail(
                    requirements,
                    f"expected a pong with the ping's payload {short(payload.hex() or '(empty)')}"
                    f" before the {who} closes / actual none",
                    ping_index,
                    *(() if index is None else (index,)),
                )

    # --- close -------------------------------------------------------------------------------

    def close(self, record: Record) -> None:
        """The connection closed (by either side)."""
        if self.closed:
            return
        self.closed = True
        self.closed_by = {record.dir} if record.dir in ("c2s", "s2c") else {"c2s", "s2c"}
        self.unanswered(record.dir, record.index)
        by_server = record.dir == "s2c"
        closing = self.closing
        if by_server and closing is not None and closing.close_code is not None:
            self.recorder.exercise(closing.requirements)
            if record.code != closing.close_code:
                self._fail(
                    closing.requirements,
                    f"expected close code {closing.close_code} after error {closing.code} / "
                    f"actual {record.code}",
                    record.index,
                )
        if by_server and record.code is not None:
            # RWS-ERR-6: only the close codes of the registry, or a private-use code.
            self.recorder.exercise1("RWS-ERR-6")
            low, high = self.rules.private_close_codes
            if record.code not in self.rules.close_codes and not low <= record.code <= high:
                self._fail(
                    ("RWS-ERR-6",),
                    f"expected a close code of the registry ({sorted(self.rules.close_codes)}) "
                    f"or a private code {low}-{high} / actual {record.code}",
                    record.index,
                )
        for run in {id(r): r for r in self.wire_runs.values()}.values():
            if run.ended:
                continue
            if by_server:
                self._fail(
                    ("RWS-ORDER-2",),
                    "expected a terminal event for every run before the server closes / actual "
                    "the connection closed with the run still running",
                    run.first,
                    record.index,
                )
            if run.facts is not None:
                # RWS-LIMIT-10: a run cut short by the close is not continuable.
                run.facts.status = "aborted"
        if by_server:
            waiting = [r for ln in self.lanes.values() for r in ln.pending]
            waiting += list(self.invalid_pending)
            for request in waiting:
                self._fail(
                    ("RWS-CREATE-12",),
                    "expected an outcome for every response.create / actual the server closed "
                    "the connection without one",
                    request.index,
                    record.index,
                )
            for expected, requirements, frame_index, kind in self.frames:
                row = self.rules.requests.frames.get(kind, {})
                if record.code is not None and record.code == row.get("close_code"):
                    # RWS-CREATE-10: the close this frame may be answered with; RWS-CREATE-22
                    # recommends the error event, which keeps the connection and its cache.
                    self.recorder.exercise(requirements)
                    close_requirements = tuple(row.get("close_requirements", ()))
                    self.recorder.exercise(close_requirements)
                    self._fail(
                        close_requirements,
                        f"expected error {' or '.join(expected)} for the {kind} message / actual "
                        f"close {record.code} (permitted, but it ends the connection and its "
                        f"cached entries)",
                        frame_index,
                        record.index,
                    )
                    continue
                self._fail(
                    requirements,
                    f"expected error {' or '.join(expected)} / actual the server closed the "
                    f"connection",
                    frame_index,
                    record.index,
                )
            for steer_index, _ in self.steers:
                self._fail(
                    ("RWS-STEER-2",)
                    if "steering" in self.checker.config.profiles
                    else ("RWS-STEER-1",),
                    "expected a reply to response.steer / actual the server closed the connection",
                    steer_index,
                    record.index,
                )
        self.cache.apply(self.rules.cache, self.checker.knowledge, "connection_closed", None, None)


_OTHER = {"c2s": "s2c", "s2c": "c2s"}


def _field_problem(event: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """What is wrong with one field an error event must carry (errors.json event_fields)."""
    name = str(spec["field"])
    value = resolve(event, tuple(name.split(".")))
    if value is MISSING or value is None:
        return f"without `{name}`"
    if spec.get("type") == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return f"`{name}` {short(value)}, not an integer"
    if spec.get("type") == "string" and not isinstance(value, str):
        return f"`{name}` {short(value)}, not a string"
    return None


def _expects(request: Request, code: str, param: Any) -> bool:
    """Whether the rule tables predict this error as the request's outcome."""
    expectation = request.expectation
    if expectation is not None:
        return code in expectation.codes and expectation.param_ok(code, param)
    prediction = request.prediction
    return prediction is not None and prediction.expect == "error" and prediction.code == code


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    return bool(a == b)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _lane_name(lane: str | None) -> str:
    return "default" if lane is None else short(lane, 40)
