"""Steering events on one connection: replies to ``response.steer``, and events inside a run.

Each reply answers one waiting ``response.steer`` (RWS-STEER-1/2); steering events carry
their target's ``stream_id`` and, the ones the grammar puts inside a run, draw their sequence
numbers from the running target's counter (RWS-STEER-3); ``response.steer.pending`` comes only
after the target completed, once per submission (RWS-STEER-6). An accepted submission is
tracked until it is committed by a successor (judged in :mod:`conformance.checker.runs`,
RWS-STEER-4), reported pending, or given back by a ``response.steer.failed`` with its id
(RWS-STEER-8; owed when its target failed, RWS-STEER-10, judged at the close in
:mod:`conformance.checker.closing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.checker.ordering import short
from conformance.checker.runs import Runs

__all__ = ["Steering"]


class Steering(Runs):
    """Judges the server's ``response.steer.*`` events."""

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
        steering = "steering" in self.checker.config.profiles
        if steering:
            self._steer_lane(event, etype, target, index)
        steer_id = steer.get("id")
        if etype == "response.steer.accepted" or (
            etype == "response.steer.failed" and "id" not in steer
        ):
            answered = self._steer_reply(event, etype, target, index)
            steer_input = None if answered is None else self.steer_inputs.pop(answered, None)
            if etype == "response.steer.accepted" and steering:
                self._accepted(steer_id, target, steer_input, index)
        elif etype == "response.steer.pending":
            self._pending(target, steer_id, index)
        elif etype == "response.steer.failed" and isinstance(steer_id, str):
            self._given_back(steer_id)

    def _steer_lane(self, event: Mapping[str, Any], etype: str, target: Any, index: int) -> None:
        """RWS-STEER-3: a steering event carries its target's stream_id (when it has one)."""
        known = self.checker.knowledge.responses.get(target) if isinstance(target, str) else None
        if known is None or known.conn != self.conn or known.lane is None:
            return
        self.recorder.exercise1("RWS-STEER-3")
        if event.get("stream_id") != known.lane:
            self._fail(
                ("RWS-STEER-3",),
                f"expected stream_id {short(known.lane)} (the lane of target {short(target)}) "
                f"on {etype} / actual {short(event.get('stream_id', '(absent)'))}",
                index,
            )

    def _pending(self, target: Any, steer_id: Any, index: int) -> None:
        # RWS-STEER-6: pending only after the target's response.completed...
        self.recorder.exercise1("RWS-STEER-6")
        known = self.checker.knowledge.responses.get(target) if isinstance(target, str) else None
        if known is None or known.status != "completed":
            self._fail(
                ("RWS-STEER-6",),
                f"expected response.steer.pending after the target's response.completed / "
                f"actual target {short(target)} "
                + ("unknown" if known is None else f"status {known.status or 'running'}"),
                index,
            )
        if not isinstance(steer_id, str):
            return
        # ...and at most once per accepted submission.
        if steer_id in self.pending_sent:
            self._fail(
                ("RWS-STEER-6",),
                f"expected one response.steer.pending per submission / actual a second one "
                f"for steer {short(steer_id)}",
                index,
            )
        self.pending_sent.add(steer_id)

    def _accepted(self, steer_id: Any, target: Any, steer_input: Any, index: int) -> None:
        """An accepted submission: the server owns its input until it is committed."""
        if not isinstance(steer_id, str) or not isinstance(target, str):
            return
        earlier = self.submissions.get(steer_id)
        if earlier is not None:
            # RWS-STEER-2: each accepted submission has an id of its own.
            self._fail(
                ("RWS-STEER-2",),
                f"expected a new steer.id on response.steer.accepted / actual "
                f"{short(steer_id)}, the id of an earlier submission",
                earlier[2],
                index,
            )
            return
        self.submissions[steer_id] = (target, steer_input, index)
        self.uncommitted.setdefault(target, []).append(steer_id)

    def _given_back(self, steer_id: str) -> None:
        """A response.steer.failed with an accepted id: the client owns the input again."""
        submission = self.submissions.get(steer_id)
        if submission is None:
            return
        target = submission[0]
        if _emptied(self.uncommitted.get(target), steer_id):
            del self.uncommitted[target]
        owed = self.give_back_due.get(target)
        if owed is not None and _emptied(owed[0], steer_id):
            del self.give_back_due[target]
        for lane, due in list(self.successor_due.items()):
            # RWS-STEER-8: once every submission is given back, no successor follows.
            if _emptied(due.steer_ids, steer_id):
                del self.successor_due[lane]
        for lane, (_, ids) in list(self.pending_due.items()):
            if _emptied(ids, steer_id):
                del self.pending_due[lane]

    def _steer_reply(
        self, event: Mapping[str, Any], etype: str, target: Any, index: int
    ) -> int | None:
        """Match a reply with the ``response.steer`` it answers; return that one's record."""
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
            return None
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
        return int(match[0])


def _emptied(ids: list[str] | None, steer_id: str) -> bool:
    """Remove ``steer_id`` from ``ids``; whether that left the list empty."""
    if not ids or steer_id not in ids:
        return False
    ids.remove(steer_id)
    return not ids
