"""Scheduling: which request goes next, on which lane, and with which context.

Every request's outcome - an error or a run - takes its turn in its lane's FIFO queue
(RWS-LANE-1, RWS-LANE-9). :class:`SessionLanes` moves the lanes: it rejects a head request
that failed its checks, holds the others to the active-response limit (RWS-LANE-4), resolves
``previous_response_id`` against the connection cache or, on a miss, asks the I/O layer to
look the response up in storage (RWS-CACHE-3, RWS-CACHE-12), and sends the busy-lane refusals
once their turn has come (RWS-LANE-2). Starting the run itself is the next layer's job
(:mod:`reference_impl.session_runs`).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reference_impl import model
from reference_impl.actions import LoadStored
from reference_impl.errors import RequestError, code_info
from reference_impl.lanes import Lane, LaneEvent, LaneState, PendingRequest
from reference_impl.run_events import Run
from reference_impl.session_limits import SessionLimits
from reference_impl.steering import Submission
from reference_impl.store import StoredResponse
from reference_impl.validation import CreateRequest

__all__ = ["SessionLanes"]


class SessionLanes(SessionLimits):
    """The lanes' queues of one connection, and what leaves them in which order."""

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
        elif record is None and self.faults.active("miss-runs-without-history"):
            # Fault: RWS-CACHE-4, a miss is previous_response_not_found, never a fresh run.
            self._start_run(
                lane,
                create,
                LaneEvent.LOADED_START,
                context=lambda: model.build_context((), (), model.normalize_input(create.input)),
                restored_items=0,
                parent_own_lane=False,
            )
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

    @abc.abstractmethod
    def _fail_now(self, run_id: int) -> None:
        """End a run in flight at once with response.failed (see session_runs)."""

    @abc.abstractmethod
    def _start_run(
        self,
        lane: Lane,
        create: CreateRequest,
        start: LaneEvent,
        *,
        context: Callable[[], Sequence[Mapping[str, Any]]],
        restored_items: int,
        parent_own_lane: bool,
        refused: Callable[[RequestError], None] | None = None,
    ) -> Run | None:
        """Accept the run and start it, or reject the request (see session_runs)."""

    @abc.abstractmethod
    def _claim_pending(self, lane: str | None, previous: str | None) -> list[Submission]:
        """The steering input pending on ``lane`` that a request continuing ``previous``
        commits (RWS-STEER-6's successor); pending input it does not continue is given
        back to the client (see session_steering)."""

    @abc.abstractmethod
    def _settle_claimed(self, claimed: list[Submission], run: Run | None) -> None:
        """Claimed pending input whose successor was refused is given back."""

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
                if self._active >= self.limits.max_active_responses or (
                    self._active and self.faults.active("lanes-not-concurrent")
                ):
                    continue
                # RWS-LANE-7: a fork and its source lane run concurrently; the fault makes a
                # request wait while a run on another lane continues the same parent.
                if self.faults.active("fork-serialised") and self._shares_parent(lane, request):
                    continue
                self._dispatch(lane, request)
                progressed = True
                break
            if not progressed:
                return

    def _shares_parent(self, lane: Lane, request: PendingRequest) -> bool:
        """Whether a run in flight on another lane continues the parent ``request`` does."""
        create = request.create
        parent = create.previous_response_id if create is not None else None
        return parent is not None and any(
            run.lane != lane.name and run.request.previous_response_id == parent
            for run in self._runs.values()
            if not run.ended
        )

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
        # RWS-STEER-6: input pending on the lane goes before the input of the request that
        # continues its target; a request that does not continue it gives it back.
        claimed = self._claim_pending(lane.name, previous)
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
            if self.faults.active("instructions-carried-over") and create.instructions is None:
                # RWS-CACHE-14: a continuation is served with its own instructions only; the
                # fault serves one sent without them with the previous request's.
                create = _with_instructions(create, entry.instructions)
            # RWS-CACHE-2: the context is the previous context, its output, the new input.
            output = () if self.faults.active("context-drop-output") else entry.output
            items = [dict(item) for s in claimed for item in s.items] + new_items
            run = self._start_run(
                lane,
                create,
                LaneEvent.START,
                context=lambda: model.build_context(entry.context, output, items),
                # RWS-MODEL-3: cached tokens are those of the items restored from the cache.
                restored_items=len(entry.context) + len(output),
                parent_own_lane=owner is self._owner and entry.lane == lane.name,
            )
            self._settle_claimed(claimed, run)
            return
        # Pending input cannot ride on a hydrated request: it is given back.
        self._settle_claimed(claimed, None)
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
        if self.faults.active("lane-error-disturbs-others"):
            # RWS-LANE-6: a request-scoped error leaves the runs of other lanes alone; the
            # fault ends every run in flight on another lane with response.failed.
            for run_id, run in list(self._runs.items()):
                if run.lane != lane and not run.ended:
                    self._fail_now(run_id)


def _with_instructions(create: CreateRequest, instructions: str | None) -> CreateRequest:
    """``create`` with ``instructions`` (the instructions-carried-over fault)."""
    if instructions is None:
        return create
    event = {**create.event, "instructions": instructions}
    return dataclasses.replace(create, instructions=instructions, event=event)


def _not_found(create: CreateRequest) -> RequestError:
    # RWS-CACHE-4, RWS-LIMIT-5: not cached here and not stored for this API key.
    return RequestError(
        "previous_response_not_found",
        f"Previous response with id '{create.previous_response_id}' not found.",
    )
