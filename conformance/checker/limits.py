"""max-connection-age on one connection: what the age limit changes about an outcome.

A request sent past the limit (within the clock margin) may be answered with the limit error
whatever else it would get (RWS-LIMIT-1); a request queued before the limit starts no run
after it (RWS-LIMIT-12); the limit error that answers a request waits for the runs in flight
(RWS-LIMIT-11). The age, its margin and the requirements come from ``requests.json``.
"""

from __future__ import annotations

from typing import Any

from conformance.checker.lanes import ConnectionState
from conformance.checker.run import Request

__all__ = ["Limits", "as_float"]


class Limits(ConnectionState):
    """The max-connection-age checks of a connection."""

    def _limit_may_answer(self, request: Request, error_code: str | None) -> bool:
        """Whether the connection-limit error is an acceptable answer whatever was predicted.

        RWS-LIMIT-1: a request sent within the clock margin of max-connection-age may find the
        connection already at its limit; the limit error then takes precedence over any other
        answer (a busy-lane refusal, say) the request would otherwise get.
        """
        entry = self.rules.errors.get(error_code) if error_code is not None else None
        return (
            request.after_limit
            and entry is not None
            and entry.scope == "connection"
            and entry.closes
        )

    def _after_limit(self, sent_at: float | None, sign: float = -1.0) -> bool:
        """Whether the connection may have reached max-connection-age (within the margin).

        ``sign`` +1 asks instead whether it had surely reached it (past the margin).
        """
        if self.opened_at is None or sent_at is None:
            return False
        for rule in self.rules.requests.create:
            if rule.get("check") == "connection_age":
                age = as_float(self.checker.config.parameters.get(str(rule.get("parameter"))))
                margin = as_float(rule.get("margin_seconds")) or 0.0
                return age is not None and sent_at - self.opened_at > age + sign * margin
        return False

    def _started_after_limit(self, request: Request, index: int, ts: float | None) -> None:
        # RWS-LIMIT-12: a request queued before the age limit does not start after it (one
        # sent after it is RWS-LIMIT-1's, judged by its expectation).
        requirements = self.rules.requests.limit_no_queued_start
        if not requirements or request.after_limit or not self._after_limit(ts, sign=1.0):
            return
        self.recorder.exercise(requirements)
        self._fail(
            requirements,
            f"expected no run to start after max-connection-age / actual response.created for "
            f"the request of record {request.index}, queued before the limit",
            request.index,
            index,
        )

    def _limit_after_runs(self, code: str, index: int) -> None:
        # RWS-LIMIT-11: the limit error that answers a request waits for the runs in flight,
        # which a client could otherwise take it to end (it carries no stream_id).
        requirements = self.rules.requests.limit_after_runs
        self.recorder.exercise(requirements)
        running = sorted(r.first for r in self.wire_runs.values() if not r.ended)
        if running:
            self._fail(
                requirements,
                f"expected error {code} after the terminal events of the runs in flight / "
                f"actual while the run of record {running[0]} is running",
                running[0],
                index,
            )

    def _after_limit_waiting(self) -> list[Request]:
        waiting = [r for ln in self.lanes.values() for r in ln.pending if r.after_limit]
        waiting += [r for r in self.invalid_pending if r.after_limit]
        return sorted(waiting, key=lambda r: r.index)


def as_float(value: Any) -> float | None:
    """A declared parameter or rule value as a number (None when it is not one)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
