"""Steering: answering ``response.steer`` and the fate of accepted input (spec section 9).

:class:`SessionSteering` sits on the runs layer (:mod:`reference_impl.session_runs`). A
``response.steer`` for a running response on this connection is checked (RWS-STEER-5) and
accepted: the run keeps the :class:`~reference_impl.steering.Submission` and stops at its next
safe point (``SessionRuns._stop_steered``, ``response.incomplete`` with reason ``steered``).
When the run ends, its accepted input is

* committed by a successor that continues it on its lane, ahead of the requests queued there
  (RWS-STEER-4), when the run completed or stopped without waiting for client input;
* reported ``response.steer.pending`` once per submission, when the run completed with tool
  calls that wait for their outputs (RWS-STEER-6): the client's next request on that lane
  continuing the run commits it, placed before its own input;
* given back with ``response.steer.failed`` carrying the submission's id when the run failed
  (RWS-STEER-10) or a successor cannot be started (RWS-STEER-8).

Without the steering profile every ``response.steer`` is refused (RWS-STEER-1). Steering
events are numbered from their target's counter while it runs and 0 once it has ended
(RWS-STEER-3, RWS-SEQ-5).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from reference_impl import model
from reference_impl.actions import SendText
from reference_impl.lanes import LaneEvent
from reference_impl.run_events import Run, dumps, stamp
from reference_impl.session_runs import SessionRuns
from reference_impl.steering import (
    MAX_PENDING_STEERS,
    Submission,
    accepted_event,
    failed_event,
    pending_event,
    required_input,
    steer_problem,
    submission_items,
    successor_request,
)

__all__ = ["SessionSteering"]

#: How many ended responses the session remembers, to refuse a steer for one of them with
#: response_already_completed or response_not_active rather than response_not_found.
_ENDED_REMEMBERED = 1024


class SessionSteering(SessionRuns):
    """The steering profile of one connection (see the module docstring)."""

    # --- response.steer ------------------------------------------------------------------------

    def _receive_steer(self, event: Mapping[str, Any]) -> None:
        if self.faults.active("steer-ignored"):
            return
        target = event.get("previous_response_id")
        steer_input = event.get("input")
        running = self._running(target) if isinstance(target, str) else None
        lane = running.lane if running is not None else self._lane_of(target)

        def refuse(code: str, message: str) -> None:
            # RWS-STEER-2: a refusal carries no steer.id; the client still owns its input.
            self._send_steering(failed_event(target, steer_input, code, message), running, lane)

        if not self.steering:
            # RWS-STEER-1: without the steering profile every response.steer fails with
            # steering_not_supported, echoing the input without an id; the target is untouched.
            refuse("steering_not_supported", "This server does not support steering.")
            return
        # RWS-STEER-5: only type, previous_response_id and input; input only user messages.
        problem = steer_problem(event, lenient=self.faults.active("steer-accepts-anything"))
        if problem is not None:
            refuse("invalid_input", f"Invalid response.steer: {problem}.")
            return
        if running is None:
            ended = self._ended.get(target) if isinstance(target, str) else None
            if ended is None:
                # The id is not echoed in the message: it is client input of any length.
                refuse("response_not_found", "The target response is not on this connection.")
            elif ended[1] == "completed":
                refuse("response_already_completed", "The target response has completed.")
            else:
                refuse("response_not_active", "The target response is no longer running.")
            return
        if not running.request.generate:
            refuse("steering_not_supported", "A response with generate: false cannot be steered.")
            return
        if len(running.steers) >= MAX_PENDING_STEERS:
            refuse(
                "too_many_pending_steers",
                f"At most {MAX_PENDING_STEERS} steering inputs may wait for one response.",
            )
            return
        assert isinstance(target, str)
        assert isinstance(steer_input, str | list)
        submission = Submission(
            self._ids("steer"), target, steer_input, submission_items(steer_input)
        )
        running.steers.append(submission)
        self._send_steering(accepted_event(submission), running, lane)
        if self.faults.active("steer-double-reply"):
            # Fault: RWS-STEER-2, a second reply (a refusal) to the same response.steer.
            refuse("response_not_active", "The response is no longer accepting input.")

    # --- what a run's end owes its accepted input ----------------------------------------------

    def _after_run(self, run: Run, now: float) -> None:
        assert run.generated is not None  # generated by the first step
        status = run.generated.status
        self._ended[run.response_id] = (run.lane, status)
        if len(self._ended) > _ENDED_REMEMBERED:
            del self._ended[next(iter(self._ended))]
        late = self._deferred.pop(run.lane, None)
        if late is not None:
            # The successor-after-queued fault: the queued request has run; now the successor.
            self._start_successor(*late, deferred=True)
        submissions, run.steers = run.steers, []
        if not submissions:
            return
        if status == "failed":
            # RWS-STEER-10: the input of a target that failed is given back, each submission.
            if not self.faults.active("steer-failure-silent"):
                self._give_back(
                    submissions,
                    run.lane,
                    "successor_creation_failed",
                    "The steered response failed; the input was not applied.",
                )
            return
        if self._closing or self._aged:
            # RWS-STEER-8: no successor can start on a connection at its age limit.
            self._give_back(
                submissions,
                run.lane,
                "successor_creation_failed",
                "The connection reached its age limit; the input was not applied.",
            )
            return
        stubs = required_input(run.generated.output)
        if status == "completed" and stubs:
            # RWS-STEER-6: after response.completed, once per submission, the input waits for
            # the client's tool outputs.
            for submission in submissions:
                self._send_steering(pending_event(submission, stubs), None, run.lane)
                if self.faults.active("pending-twice"):
                    self._send_steering(pending_event(submission, stubs), None, run.lane)
            self._pending_steers[run.lane] = (run.response_id, submissions)
            return
        self._start_successor(run, submissions)

    def _start_successor(
        self, run: Run, submissions: Sequence[Submission], *, deferred: bool = False
    ) -> None:
        """RWS-STEER-4: the successor continues ``run`` on its lane, before queued requests."""
        assert run.generated is not None
        lane = self._lanes[run.lane]
        committed = submissions
        if self.faults.active("successor-drops-input"):
            # Fault: only the latest submission reaches the successor; all count as committed.
            committed = submissions[-1:]
        create = successor_request(run.request, run.response_id, committed)
        if self.faults.active("successor-wrong-parent"):
            # Fault: the successor does not name its target as previous_response_id.
            event = {k: v for k, v in create.event.items() if k != "previous_response_id"}
            create = dataclasses.replace(create, previous_response_id=None, event=event)
        if self.faults.active("successor-after-queued") and lane.queue and not deferred:
            # Fault: the successor waits until the request queued on the lane has run.
            self._deferred[run.lane] = (run, list(submissions))
            return
        context, output = run.context, run.generated.output
        items = list(create.input) if isinstance(create.input, list) else []
        self._start_run(
            lane,
            create,
            LaneEvent.START,
            context=lambda: model.build_context(context, output, items),
            # RWS-MODEL-3: the target's context and output are restored from the cache.
            restored_items=len(context) + len(output),
            parent_own_lane=True,
            refused=lambda _error: self._give_back(
                submissions,
                run.lane,
                "successor_creation_failed",
                "The successor of the steered response could not be started.",
            ),
        )

    def _claim_pending(self, lane: str | None, previous: str | None) -> list[Submission]:
        pending = self._pending_steers.pop(lane, None)
        if pending is None:
            return []
        target, submissions = pending
        if previous == target:
            return submissions
        # RWS-STEER-8: the lane moved on without continuing the target; the input is returned.
        self._give_back(
            submissions,
            lane,
            "response_not_active",
            "The next request on this lane does not continue the steered response.",
        )
        return []

    def _settle_claimed(self, claimed: list[Submission], run: Run | None) -> None:
        if claimed and run is None:
            self._give_back(
                claimed,
                self._lane_of(claimed[0].target),
                "successor_creation_failed",
                "The request continuing the steered response was not started.",
            )

    # --- helpers -------------------------------------------------------------------------------

    def _give_back(
        self, submissions: Sequence[Submission], lane: str | None, code: str, message: str
    ) -> None:
        """``response.steer.failed`` with each submission's id: the client owns it again."""
        for submission in submissions:
            event = failed_event(
                submission.target, submission.input, code, message, steer_id=submission.steer_id
            )
            self._send_steering(event, None, lane)

    def _send_steering(self, event: dict[str, Any], running: Run | None, lane: str | None) -> None:
        """Number a steering event (RWS-STEER-3, RWS-SEQ-5) and queue it."""
        no_lane = self.faults.active("steer-no-stream-id")
        if running is not None and self.faults.active("steer-numbered-0"):
            # Fault: RWS-SEQ-5, the event takes 0, not the running target's next number.
            running = None
        if running is not None and not no_lane:
            # RWS-SEQ-1: the next number of the running target (and its stream_id); the
            # target's own events go on after it.
            self._actions.append(SendText(stamp(running, event, self.faults)))
            return
        if running is not None:
            numbered = {**event, "sequence_number": running.counter}
            running.counter += 1
            running.numbered += 1
        else:
            # Without a running target there is no counter to draw from.
            numbered = {**event, "sequence_number": 0}
            if lane is not None and not no_lane:
                numbered["stream_id"] = lane
        self._actions.append(SendText(dumps(numbered)))

    def _lane_of(self, response_id: Any) -> str | None:
        """The lane of a response of this connection that is not running (None: unknown)."""
        if not isinstance(response_id, str):
            return None
        ended = self._ended.get(response_id)
        if ended is not None:
            return ended[0]
        found = self.cache.find(response_id)
        if found is not None and found[0] is self._owner:
            return found[1].lane
        return None
