"""The connection's timers: the connection-age limit and the idle timeout.

Timers are data here, not tasks: :meth:`SessionLimits.next_deadline` says when the I/O layer
must next call :meth:`SessionLimits.tick`. Once the connection is aged, no new run starts, the
requests that arrive or wait are owed the limit error, and the connection closes with it as
soon as the runs already started have ended (RWS-LIMIT-1/2, RWS-LIMIT-11).
"""

from __future__ import annotations

import abc

from reference_impl.errors import ProtocolError
from reference_impl.session_state import SessionState

__all__ = ["SessionLimits"]


class SessionLimits(SessionState, abc.ABC):
    """The connection-age and idle limits of one connection."""

    def tick(self, now: float) -> None:
        """Apply the timers whose deadline has passed (call it at :meth:`next_deadline`)."""
        if self._closing:
            return
        # RWS-LIMIT-1/2: at the connection-age limit no new run starts; queued requests are
        # answered with the limit error and the connection closes once the runs have ended.
        if not self._aged and now >= self._age_deadline():
            self._aged = True
            for lane in self._lanes.values():
                # Fault: RWS-LIMIT-12 broken, queued requests are left to start.
                while lane.queue and not self.faults.active("start-queued-at-age-limit"):
                    lane.queue.popleft()
                    self._limit_errors_owed.append(lane.name)
            self._release_refusals()
            self._close_if_aged_and_idle()
        # RWS-LIMIT-4: idle only with nothing in flight and no message for idle_timeout.
        deadline = self._idle_deadline()
        if deadline is not None and now >= deadline:
            self._close(self._limit_close_code(), "idle timeout")

    def next_deadline(self) -> float | None:
        """Return when :meth:`tick` must next be called, or None when no timer runs."""
        if self._closing:
            return None
        deadlines = [] if self._aged else [self._age_deadline()]
        idle = self._idle_deadline()
        if idle is not None:
            deadlines.append(idle)
        deadline = min(deadlines, default=None)
        return None if deadline == float("inf") else deadline

    @abc.abstractmethod
    def _release_refusals(self) -> None:
        """Send the held busy-lane refusals whose turn has come (see session_lanes)."""

    # --- private methods: limits and closing ---------------------------------------------

    def _age_deadline(self) -> float:
        if self.faults.active("ignore-age-limit"):
            return float("inf")
        return self._opened_at + self.limits.max_connection_age

    def _idle_deadline(self) -> float | None:
        if self.limits.idle_timeout is None or self.faults.active("no-idle-timeout"):
            return None
        # RWS-LIMIT-4: time with a run in flight (or a request waiting) is not idle; the
        # idle-during-run fault counts it all the same.
        busy = self._active or self._loading or any(lane.queue for lane in self._lanes.values())
        if busy and not self.faults.active("idle-during-run"):
            return None
        return self._last_activity + self.limits.idle_timeout

    def _close_if_aged_and_idle(self) -> None:
        # RWS-LIMIT-2: once the runs already started have ended, send the limit error if it
        # was not sent yet, and close with 1001.
        if not self._aged or self._closing or self._active or self._loading:
            return
        # RWS-LIMIT-11: the errors that answer requests sent or queued after the limit are
        # held until now. They carry no stream_id, and a client that files such an error
        # under the default lane (the openai SDK's lane helper does) would end a run that is
        # still streaming.
        owed, self._limit_errors_owed = self._limit_errors_owed, []
        for lane_name in owed:
            # RWS-EVENT-5: a connection-scoped error carries no stream_id, whatever the lane
            # of the request it answers.
            stream_id = lane_name if self.faults.active("age-error-stream-id") else None
            self._send_limit_error(stream_id=stream_id)
        if not self._limit_error_sent:
            self._send_limit_error()
        self._close(self._limit_close_code(), "connection age limit")

    def _send_limit_error(self, *, stream_id: str | None = None) -> None:
        self._limit_error_sent = True
        self._send_error(
            ProtocolError(
                "websocket_connection_limit_reached",
                "Responses websocket connection limit reached. "
                "Create a new websocket connection to continue.",
            ),
            stream_id=stream_id,
        )

    def _limit_close_code(self) -> int:
        # RWS-ERR-6, RWS-LIMIT-2/4: a limit closes with 1001 (going away), per the registry.
        return 1000 if self.faults.active("limit-close-1000") else 1001
