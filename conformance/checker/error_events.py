"""Error events on one connection: their shape, and which message or request each answers.

``errors.json`` gives each code its scope and shape: a frame-scoped error answers the oldest
bad frame still owed one, a connection-scoped error the requests the limit answers, a
request-scoped error a waiting request of its lane (in request order, RWS-LANE-9); an error
carrying a running run's ``sequence_number`` is part of that run (RWS-ORDER-12).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.checker.ordering import short
from conformance.checker.outcomes import expects
from conformance.checker.rules import MISSING, resolve
from conformance.checker.run import Request
from conformance.checker.runs import Runs
from conformance.wording import lane_name, unnamed_error, value_text

__all__ = ["ErrorEvents"]


class ErrorEvents(Runs):
    """Judges the server's ``error`` events."""

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
        # Messages name the error by its code; one without a string error.code is named by
        # what it has instead (flat shape, no code), never as "error null". The text matches
        # no registered code, so the logic below treats it as an unregistered code as before.
        code_text = code if isinstance(code, str) else unnamed_error(event)
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
                f"{lane_name(wire)} / actual error {code_text} with no request waiting"
                f"{self._waiting_elsewhere(wire)}",
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
                    f"expected {wanted}{extra} / actual an `error` event with code "
                    f"{value_text(code)} " + "; ".join(found),
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
        expected, requirements, frame_index, kind = self.frames.popleft()
        self.recorder.exercise(requirements)
        if code not in expected:
            # A frame row without a code is owed the close alone (requests.json "frames").
            row = self.rules.requests.frames.get(kind, {})
            wanted = (
                f"error {' or '.join(expected)}" if expected else f"close {row.get('close_code')}"
            )
            self._fail(
                requirements,
                f"expected {wanted} for the message of record {frame_index} / actual error {code}",
                frame_index,
                index,
            )

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
        if not expects(head, code, param):
            # RWS-LANE-9: an error that a later request of the lane must get, and the oldest
            # need not, is that later request's outcome, sent before the oldest request's.
            later = next((r for r in lane.pending if expects(r, code, param)), None)
            if later is not None:
                request = later
                self._fail(
                    order,
                    f"expected the outcome of the response.create of record {head.index} on "
                    f"{lane_name(wire)} first (request order) / actual error {code}, the "
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
