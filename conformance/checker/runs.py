"""The runs of one connection: which request a run answers, and how the run ended.

Server events other than errors and steering replies are routed to a lane by ``stream_id``:
``response.created`` starts the outcome of the lane's oldest waiting request (RWS-CREATE-12),
any other event belongs to the lane's running run, whose per-event checks live in
:mod:`conformance.checker.run`. Events outside any run are reported once per lane. At the
run's terminal event its end is judged and the cache model is told.

A run that ended with accepted steering input owes it (RWS-STEER-4): a successor, the next run
on its lane and continuing it, which answers no request; or, when it completed with tool calls
waiting for their outputs, ``response.steer.pending`` and a commit by the client's next request
continuing it; or, when it failed, the input given back (RWS-STEER-10).
"""

from __future__ import annotations

from typing import Any

from conformance.checker import model
from conformance.checker.cache import ResponseFacts
from conformance.checker.lanes import SuccessorDue
from conformance.checker.ordering import short
from conformance.checker.outcomes import Outcomes
from conformance.checker.run import Request, Run
from conformance.wording import lane_name

__all__ = ["Runs"]

#: Output items that wait for the client's output before a successor can continue them.
_CLIENT_CALLS = frozenset({"function_call", "custom_tool_call"})


class Runs(Outcomes):
    """Tracks the runs of each lane, from ``response.created`` to the terminal event."""

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
                    f"expected no event on {lane_name(wire)} after the run's terminal "
                    f"event / actual {etype}",
                    run.first,
                    index,
                )
            elif lane is not None and lane.pending:
                self.stray[wire] = ("RWS-ORDER-1",)
                self._fail(
                    ("RWS-ORDER-1",),
                    f"expected response.created as the first event of the run on "
                    f"{lane_name(wire)} / actual {etype}",
                    lane.pending[0].index,
                    index,
                )
            else:
                self.stray[wire] = ("RWS-CREATE-12",)
                self._fail(
                    ("RWS-CREATE-12",),
                    f"expected no event on {lane_name(wire)} (no run and no waiting "
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
        response = event.get("response")
        request = self._successor(wire, response, index) if self.successor_due else None
        if request is None:
            request = self._take_request(wire)
        self.recorder.exercise1("RWS-CREATE-12")
        if request is None:
            self._fail(
                ("RWS-CREATE-12",),
                f"expected a run only as the answer to a response.create on "
                f"{lane_name(wire)} / actual response.created with no request waiting"
                f"{self._waiting_elsewhere(wire)}",
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
                f"expected the run on {lane_name(request.lane)} to end before the next "
                f"starts / actual response.created while the run of record "
                f"{previous.first} is still running",
                previous.first,
                index,
            )
        self._judge_outcome(request, None, index)
        run = Run(self.rules, self.recorder, self.conn, request, wire, index)
        lane.active = run
        self.wire_runs[wire] = run
        self._commit_pending(request)
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
        if run.response_id in self.uncommitted:
            self._steered_run_ended(run, status, index)
        self.cache.apply(
            self.rules.cache,
            self.checker.knowledge,
            "run_ended",
            request.lane,
            request.body,
            run.response_id,
            status,
        )

    # --- steering successors (RWS-STEER-4) -------------------------------------------------------

    def _steered_run_ended(self, run: Run, status: str, index: int) -> None:
        """What a run that ended with accepted, uncommitted steering input owes it."""
        rid = run.response_id
        assert rid is not None
        ids = self.uncommitted.pop(rid)
        lane = run.request.lane
        if status == "failed":
            # RWS-STEER-10: each submission is owed a response.steer.failed with its id.
            self.give_back_due[rid] = (ids, index)
            return
        calls = [
            item
            for item in (run.facts.output if run.facts is not None else [])
            if isinstance(item, dict) and item.get("type") in _CLIENT_CALLS
        ]
        if status == "completed" and calls:
            # RWS-STEER-6: pending (or given back); the client's next request continuing the
            # target on its lane commits it.
            self.pending_due[lane] = (rid, ids)
            return
        self.successor_due[lane] = SuccessorDue(rid, run, ids, index)

    def _successor(self, wire: str | None, response: object, index: int) -> Request | None:
        """The successor request a response.created answers, or None when it answers a
        request of the client (RWS-STEER-4: the successor continues its target, on its lane,
        before every request queued there)."""
        response = response if isinstance(response, dict) else {}
        parent = response.get("previous_response_id")
        due = next((d for d in self.successor_due.values() if d.target == parent), None)
        if due is not None:
            del self.successor_due[due.run.request.lane]
            self.recorder.exercise1("RWS-STEER-4")
            lane = due.run.request.lane
            if wire != due.run.wire_lane and not due.reported:
                self._fail(
                    ("RWS-STEER-4",),
                    f"expected the successor of steered response {short(due.target)} on its "
                    f"lane, {lane_name(lane)} / actual its response.created on {lane_name(wire)}",
                    due.ended_at,
                    index,
                )
            return self._successor_request(due)
        due = self.successor_due.get(wire)
        if due is None or due.reported:
            return None
        self.recorder.exercise1("RWS-STEER-4")
        due.reported = True
        waiting = self.lanes.get(wire)
        queued = waiting.pending[0] if waiting is not None and waiting.pending else None
        if queued is not None and _answers(queued, response):
            # The queued request's run went first; the successor may still follow.
            self._fail(
                ("RWS-STEER-4",),
                f"expected the successor of steered response {short(due.target)} before the "
                f"response.create queued on {lane_name(wire)} (record {queued.index}) / actual "
                "that request's run started first",
                due.ended_at,
                index,
            )
            return None
        del self.successor_due[wire]
        self._fail(
            ("RWS-STEER-4",),
            f"expected the successor of steered response {short(due.target)} as the next run "
            f"on {lane_name(wire)}, with previous_response_id {short(due.target)} / actual "
            f"response.created with previous_response_id {short(parent)}",
            due.ended_at,
            index,
        )
        return self._successor_request(due)

    def _successor_request(self, due: SuccessorDue) -> Request:
        """The request a successor runs: its target's, continued with the committed input."""
        target = due.run.request
        items: list[object] = []
        for steer_id in due.steer_ids:
            normalized = model.normalize_input(self.submissions[steer_id][1])
            items.extend(normalized or ())
        body = {**target.body, "previous_response_id": due.target, "input": items}
        return Request(
            index=due.ended_at,
            body=body,
            lane=target.lane,
            named=target.named,
            invalid_stream_id=False,
            null_stream_id=target.null_stream_id,
            previous=due.target,
            store=target.store,
            generate=True,
            successor_of=due.target,
        )

    def _commit_pending(self, request: Request) -> None:
        """A request on a lane with pending steering input: it commits that input, placed
        before its own, when it continues the target (spec 9.3); else the input stays the
        client's to be given back."""
        pending = self.pending_due.pop(request.lane, None)
        if pending is None or request.successor_of is not None:
            return
        target, ids = pending
        if request.previous != target:
            return
        items: list[object] = []
        for steer_id in ids:
            items.extend(model.normalize_input(self.submissions[steer_id][1]) or ())
        own = model.normalize_input(request.body.get("input"))
        if own is not None:
            request.body = {**request.body, "input": [*items, *own]}


def _answers(request: Request, response: dict[str, Any]) -> bool:
    """Whether a response.created may answer ``request`` rather than be a successor: it
    continues what the request continues, and echoes the request's metadata when the request
    has some (a successor echoes its target's settings, spec 9.3)."""
    if request.previous != response.get("previous_response_id"):
        return False
    metadata = request.body.get("metadata")
    return not metadata or response.get("metadata") == metadata
