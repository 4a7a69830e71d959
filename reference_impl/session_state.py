"""The state of one connection and the primitives every part of the session shares.

:class:`SessionState` is the bottom layer of :class:`~reference_impl.session.Session`. It
holds everything about a connection - lanes and their queues, the runs, the cache, the limit
bookkeeping, the actions not yet taken - and the few outputs every layer above needs:
answering with an error, closing, and moving a lane through its state machine. The layers
above it each do one job on this state:

* :mod:`reference_impl.session_limits` - the connection-age and idle limits;
* :mod:`reference_impl.session_lanes` - the lanes' queues, the active-response limit, the
  busy-lane refusals and resolving ``previous_response_id``;
* :mod:`reference_impl.session_runs` - a run from its acceptance to its terminal event;
* :mod:`reference_impl.session_requests` - what the client sends;
* :mod:`reference_impl.session` - the :class:`~reference_impl.session.Session` they make.

Each layer builds on the one below it; the few calls that go up the stack are declared as
abstract methods in the layer that makes them, so a layer cannot be used without the ones above.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from reference_impl.actions import Action, CloseConnection, Persist, SendText
from reference_impl.cache import ResponseCache
from reference_impl.errors import ProtocolError, RequestError, error_event
from reference_impl.faults import NO_FAULTS, Faults
from reference_impl.lanes import Lane, LaneEvent, PendingRequest
from reference_impl.limits import DEFAULT_LIMITS, NO_COST, CostModel, Limits
from reference_impl.run_events import Run, dumps
from reference_impl.steering import Submission

__all__ = ["Refusal", "SessionState", "new_id"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A busy-lane refusal (RWS-LANE-2, busy-lane=reject) waiting for its turn."""

    error: RequestError
    previous_response_id: str | None  # as sent, evicted when the refusal goes out


#: The bits a version-4 UUID fixes (RFC 9562: version 0100, variant 10), cleared and then set.
_UUID4_CLEAR = (0xF000 << 64) | (0xC000 << 48)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_id(prefix: str) -> str:
    """A fresh, random id such as ``resp_...`` (the session's default id source).

    The hex digits of a random version-4 UUID, as ``uuid.uuid4().hex`` writes them, without
    building the UUID object (every run draws several ids, one on its way to
    ``response.created``).
    """
    number = (int.from_bytes(os.urandom(16), "big") & ~_UUID4_CLEAR) | _UUID4_SET
    return f"{prefix}_{number:032x}"


class SessionState:
    """The state of one connection, with the outputs every layer of the session shares."""

    def __init__(
        self,
        *,
        api_key: str,
        now: float,
        limits: Limits = DEFAULT_LIMITS,
        faults: Faults = NO_FAULTS,
        cost: CostModel = NO_COST,
        cache: ResponseCache | None = None,
        ids: Callable[[str], str] = new_id,
        wall_clock: Callable[[], float] = time.time,
        multiplex: bool = True,
        steering: bool = True,
    ) -> None:
        self.api_key = api_key
        self.multiplex = multiplex
        self.steering = steering
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
        self._runs: dict[int, Run] = {}
        self._next_run = 0
        self._active = 0  # runs plus lookups holding a slot (RWS-LANE-4)
        self._loading: dict[int, tuple[Lane, PendingRequest]] = {}
        # busy-lane=reject: refusals held until their lane's request has sent its first event
        self._refusals: dict[str | None, list[Refusal]] = {}
        self._aged = False
        # The requests answered by the limit error, not yet sent: the lane each was sent on
        # (the age-error-stream-id fault copies it into the error; a correct server never).
        self._limit_errors_owed: list[str | None] = []
        self._limit_error_sent = False
        self._closing = False
        # The model of the last request served (only the unknown-model-served fault uses it).
        self._last_model: str | None = None
        # The id every run reuses under the reuse-response-id fault.
        self._first_id: str | None = None
        # The persist-on-close fault: stored responses held back until the connection closes.
        self._held: list[Persist] = []
        # Steering: per lane, the accepted input reported pending after its target completed
        # (the target's id, the submissions), and how the latest runs ended (response id ->
        # lane, status), so a steer for a run that ended gets the right refusal.
        self._pending_steers: dict[str | None, tuple[str, list[Submission]]] = {}
        self._ended: dict[str, tuple[str | None, str]] = {}
        # The successor-after-queued fault: per lane, the successor held back (run, input).
        self._deferred: dict[str | None, tuple[Run, list[Submission]]] = {}

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

    # --- private methods: answers and closing ----------------------------------------------

    def _reject_now(self, error: RequestError, *, stream_id: str | None) -> None:
        if stream_id is not None and self.faults.active("no-stream-id"):
            stream_id = None
        self._send_error(error, stream_id=stream_id)
        if self.faults.active("close-on-error"):
            self._close(1008, "request error")

    def _send_error(self, error: ProtocolError, *, stream_id: str | None = None) -> None:
        event = error_event(error, stream_id=stream_id, faults=self.faults)
        self._actions.append(SendText(dumps(event)))

    def _close(self, code: int, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._actions.append(CloseConnection(code, reason))

    # --- private methods: the lane state machine -------------------------------------------

    def _overlaps(self, lane: Lane) -> bool:
        """Whether a fault lets the runs of ``lane`` overlap (RWS-LANE-1 broken)."""
        return self.faults.active("lane-overlap") or (
            lane.name is not None and self.faults.active("named-lane-overlap")
        )

    def _fire(self, lane: Lane, event: LaneEvent) -> None:
        # lane-overlap, named-lane-overlap: the lane never becomes busy, so its runs overlap.
        if not self._overlaps(lane):
            lane.fire(event)
