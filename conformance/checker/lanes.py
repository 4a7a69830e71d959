"""A connection's lanes and the requests waiting on them: the state its judges share.

The client's ``response.create`` messages queue per lane (FIFO) and a server event is routed
to a lane by its ``stream_id``. :class:`ConnectionState` holds that state and everything else
the judges of one connection read and update (see :mod:`conformance.checker.connection`),
with the bookkeeping of which waiting request an outcome answers. It judges nothing itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conformance.checker.cache import CacheModel
from conformance.checker.rules import ErrorCode, Rules
from conformance.checker.run import Request, Run
from conformance.wording import lane_name

if TYPE_CHECKING:
    from conformance.checker.core import Checker

__all__ = ["ConnectionState", "Lane", "SuccessorDue"]


@dataclass(slots=True)
class SuccessorDue:
    """A steered run ended: its successor is the next run on its lane (RWS-STEER-4)."""

    target: str  # the steered response's id
    run: Run  # the steered run
    steer_ids: list[str]  # the accepted submissions the successor commits
    ended_at: int  # the record of the steered run's terminal event
    reported: bool = False  # another run came first: reported once, the successor still due


class Lane:
    """One lane of a connection: its requests waiting for an outcome, and its latest run."""

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


class ConnectionState:
    """What the checker keeps of one connection, shared by the judges that make up
    :class:`~conformance.checker.connection.Connection`."""

    def __init__(
        self, checker: Checker, conn: str, principal: str | None, opened_at: float | None = None
    ) -> None:
        self.checker = checker
        self.rules: Rules = checker.rules
        self.recorder = checker.recorder
        self.conn = conn
        self.principal = principal
        self.opened_at = opened_at
        self.lanes: dict[str | None, Lane] = {}
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
        # Steering: what each response.steer sent (record index -> input); the accepted
        # submissions (steer id -> target, input, reply record); per target the ids not yet
        # committed, pending or given back; per lane the successor due after a steered run
        # ended; per target that failed the ids owed a response.steer.failed (RWS-STEER-10).
        self.steer_inputs: dict[int, Any] = {}
        self.submissions: dict[str, tuple[str, Any, int]] = {}
        self.uncommitted: dict[str, list[str]] = {}
        self.successor_due: dict[str | None, SuccessorDue] = {}
        self.give_back_due: dict[str, tuple[list[str], int]] = {}
        # lane -> (target, ids): input reported pending after the target completed; the next
        # request on the lane that continues the target commits it, before its own input
        self.pending_due: dict[str | None, tuple[str, list[str]]] = {}
        self.pending_sent: set[str] = set()

    # --- helpers ---------------------------------------------------------------------------

    def _fail(self, requirements: tuple[str, ...], message: str, *records: int) -> None:
        self.recorder.report(requirements, message, self.conn, records)

    def _lane(self, key: str | None) -> Lane:
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = Lane()
        return lane

    @staticmethod
    def _wire(event: Mapping[str, Any]) -> str | None:
        value = event.get("stream_id")
        if value is None or isinstance(value, str):
            return value
        return repr(value)

    # --- which waiting request an outcome answers --------------------------------------------

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

    def _waiting_elsewhere(self, wire: str | None) -> str:
        """Names a request waiting on another lane: a stray outcome is most likely its answer,
        sent on the wrong lane (a named lane's run without ``stream_id``, or the other way)."""
        for name, lane in self.lanes.items():
            if name != wire and lane.pending:
                return (
                    f" there, while the response.create of record {lane.pending[0].index} "
                    f"waits on {lane_name(name)} (this is likely its answer, sent on "
                    f"{lane_name(wire)})"
                )
        return ""

    def _oldest_waiting(self) -> Request | None:
        candidates = [ln.pending[0] for ln in self.lanes.values() if ln.pending]
        if self.invalid_pending:
            candidates.append(self.invalid_pending[0])
        return min(candidates, key=lambda r: r.index) if candidates else None

    def _remove(self, request: Request) -> None:
        if request.invalid_stream_id:
            self.invalid_pending.remove(request)
        else:
            self.lanes[request.lane].pending.remove(request)
