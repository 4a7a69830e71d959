"""Lanes: one FIFO queue of requests each, and a table-driven state machine.

A lane runs one request at a time (RWS-LANE-1): it is ``IDLE``, ``LOADING`` (its head request
waits for a stored response to hydrate) or ``RUNNING``. Every transition is a row of
:data:`LANE_TRANSITIONS`; anything else is a bug in the caller and raises, leaving the state
unchanged.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from reference_impl.errors import RequestError
from reference_impl.validation import CreateRequest

__all__ = ["LANE_TRANSITIONS", "Lane", "LaneEvent", "LaneState", "PendingRequest"]


# --- lanes: a table-driven state machine ------------------------------------------------------


class LaneState(enum.Enum):
    """Where a lane is: free, resolving its head request from storage, or running it."""

    IDLE = "idle"
    LOADING = "loading"
    RUNNING = "running"


class LaneEvent(enum.Enum):
    """What happens to a lane."""

    START = "start"  # the head request starts a run
    LOAD = "load"  # the head request waits for a stored response
    LOADED_START = "loaded-start"  # ... which was found: the run starts
    LOADED_REJECT = "loaded-reject"  # ... which was not found: the request is rejected
    END = "end"  # the run sent its terminal event


# RWS-LANE-1: a lane runs one request at a time; every other transition is a bug.
LANE_TRANSITIONS: dict[tuple[LaneState, LaneEvent], LaneState] = {
    (LaneState.IDLE, LaneEvent.START): LaneState.RUNNING,
    (LaneState.IDLE, LaneEvent.LOAD): LaneState.LOADING,
    (LaneState.LOADING, LaneEvent.LOADED_START): LaneState.RUNNING,
    (LaneState.LOADING, LaneEvent.LOADED_REJECT): LaneState.IDLE,
    (LaneState.RUNNING, LaneEvent.END): LaneState.IDLE,
}


@dataclass(slots=True)
class PendingRequest:
    """A ``response.create`` waiting in its lane's FIFO."""

    arrival: int
    lane: str | None
    create: CreateRequest | None  # None when it was rejected on arrival
    rejection: RequestError | None
    previous_response_id: str | None  # as sent, for eviction even when the request is invalid
    # The size of its message in bytes: what a waiting request counts against max-queued-bytes
    # (RWS-LANE-11), for it holds the parsed message until it starts.
    size: int = 0


@dataclass(slots=True)
class Lane:
    name: str | None
    state: LaneState = LaneState.IDLE
    queue: deque[PendingRequest] = field(default_factory=deque)

    def fire(self, event: LaneEvent) -> None:
        """Move the lane by ``event``; an undefined transition raises and changes nothing."""
        try:
            self.state = LANE_TRANSITIONS[self.state, event]
        except KeyError:
            message = f"lane {self.name!r}: no transition {event} from {self.state}"
            raise AssertionError(message) from None
