"""Steering events on one connection: replies to ``response.steer``, and events inside a run.

Each reply answers one waiting ``response.steer`` (RWS-STEER-1/2); steering events the
grammar puts inside a run draw their sequence numbers from the running target's counter
(RWS-STEER-3); ``response.steer.pending`` comes only after the target completed
(RWS-STEER-6).
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
