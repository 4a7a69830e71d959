"""How one connection ends: pings still owed a pong, the close, and what it leaves unanswered.

A close by the server carries the close code of the error that closed the connection, or a
code of the registry (RWS-ERR-6), and comes after every run's terminal event (RWS-ORDER-2),
every request's outcome (RWS-CREATE-12) and every answer a bad frame or a steering message
is owed. Either side answers the other's pings before it closes (``requests.json`` "pings").
"""

from __future__ import annotations

from conformance.checker.lanes import ConnectionState
from conformance.checker.ordering import short
from conformance.transcript import Record

__all__ = ["Closing"]

_OTHER = {"c2s": "s2c", "s2c": "c2s"}


class Closing(ConnectionState):
    """Judges the pings and the close of a connection."""

    def control(self, record: Record) -> None:
        """A WebSocket ping or pong (requests.json "pings", RFC 6455 section 5.5.2/5.5.3)."""
        side = record.dir or ""
        other = _OTHER.get(side, "")
        payload = record.data or b""
        if record.kind == "ping":
            # A side that has sent its close frame sends nothing more, a pong included.
            if other not in self.closed_by:
                self.pings.setdefault(side, []).append((payload, record.index))
            return
        pending = self.pings.get(other)
        if not pending:
            return  # an unsolicited pong (a heartbeat) is allowed
        for position, (ping, _) in enumerate(pending):
            if ping == payload:
                # RWS-TRANS-9 / RWS-CLIENT-9: answered; a pong for the latest of several pings
                # answers the earlier ones too.
                requirements = self.rules.requests.pings.get(other, ())
                for _ in range(position + 1):
                    self.recorder.exercise(requirements)
                del pending[: position + 1]
                return

    def unanswered(self, closing_side: str | None, index: int | None) -> None:
        """The side ``closing_side`` closes (None: the connection ended): its pongs are due."""
        sides = [_OTHER[closing_side]] if closing_side in _OTHER else list(_OTHER)
        for pinger in sides:
            pending = self.pings.pop(pinger, None)
            if not pending:
                continue
            requirements = self.rules.requests.pings.get(pinger, ())
            who = "server" if pinger == "c2s" else "client"
            for payload, ping_index in pending:
                self.recorder.exercise(requirements)
                self._fail(
                    requirements,
                    f"expected a pong with the ping's payload {short(payload.hex() or '(empty)')}"
                    f" before the {who} closes / actual none",
                    ping_index,
                    *(() if index is None else (index,)),
                )

    def close(self, record: Record) -> None:
        """The connection closed (by either side)."""
        if self.closed:
            return
        self.closed = True
        self.closed_by = {record.dir} if record.dir in ("c2s", "s2c") else {"c2s", "s2c"}
        self.unanswered(record.dir, record.index)
        by_server = record.dir == "s2c"
        closing = self.closing
        if by_server and closing is not None and closing.close_code is not None:
            self.recorder.exercise(closing.requirements)
            if record.code != closing.close_code:
                self._fail(
                    closing.requirements,
                    f"expected close code {closing.close_code} after error {closing.code} / "
                    f"actual {record.code}",
                    record.index,
                )
        if by_server and record.code is not None:
            # RWS-ERR-6: only the close codes of the registry, or a private-use code.
            self.recorder.exercise1("RWS-ERR-6")
            low, high = self.rules.private_close_codes
            if record.code not in self.rules.close_codes and not low <= record.code <= high:
                self._fail(
                    ("RWS-ERR-6",),
                    f"expected a close code of the registry ({sorted(self.rules.close_codes)}) "
                    f"or a private code {low}-{high} / actual {record.code}",
                    record.index,
                )
        for run in {id(r): r for r in self.wire_runs.values()}.values():
            if run.ended:
                continue
            if by_server:
                self._fail(
                    ("RWS-ORDER-2",),
                    "expected a terminal event for every run before the server closes / actual "
                    f"the server closed the connection{_with_code(record.code)} with the run of "
                    f"record {run.first} still running",
                    run.first,
                    record.index,
                )
            if run.facts is not None:
                # RWS-LIMIT-10: a run cut short by the close is not continuable.
                run.facts.status = "aborted"
        if by_server:
            waiting = [r for ln in self.lanes.values() for r in ln.pending]
            waiting += list(self.invalid_pending)
            for request in waiting:
                self._fail(
                    ("RWS-CREATE-12",),
                    "expected an outcome for every response.create / actual the server closed "
                    f"the connection{_with_code(record.code)} without one",
                    request.index,
                    record.index,
                )
            for expected, requirements, frame_index, kind in self.frames:
                row = self.rules.requests.frames.get(kind, {})
                if record.code is not None and record.code == row.get("close_code"):
                    # RWS-CREATE-10: the close this frame may be answered with; RWS-CREATE-22
                    # recommends the error event, which keeps the connection and its cache.
                    self.recorder.exercise(requirements)
                    close_requirements = tuple(row.get("close_requirements", ()))
                    self.recorder.exercise(close_requirements)
                    self._fail(
                        close_requirements,
                        f"expected error {' or '.join(expected)} for the {kind} message / actual "
                        f"close {record.code} (permitted, but it ends the connection and its "
                        f"cached entries)",
                        frame_index,
                        record.index,
                    )
                    continue
                # A row without a code is owed its close (a text message that is not UTF-8).
                wanted = (
                    f"error {' or '.join(expected)}"
                    if expected
                    else f"close {row.get('close_code')}"
                )
                self._fail(
                    requirements,
                    f"expected {wanted} / actual the server closed the "
                    f"connection{_with_code(record.code)}",
                    frame_index,
                    record.index,
                )
            for target, (steer_ids, ended_at) in self.give_back_due.items():
                # RWS-STEER-10: the accepted input of a target that failed is given back.
                self.recorder.exercise1("RWS-STEER-10")
                self._fail(
                    ("RWS-STEER-10",),
                    f"expected response.steer.failed successor_creation_failed for each "
                    f"submission accepted for {short(target)}, which failed / actual the server "
                    f"closed the connection{_with_code(record.code)} without one for "
                    f"{', '.join(short(i) for i in steer_ids)}",
                    ended_at,
                    record.index,
                )
            for steer_index, _ in self.steers:
                self._fail(
                    ("RWS-STEER-2",)
                    if "steering" in self.checker.config.profiles
                    else ("RWS-STEER-1",),
                    "expected a reply to response.steer / actual the server closed the "
                    f"connection{_with_code(record.code)}",
                    steer_index,
                    record.index,
                )
        self.cache.apply(self.rules.cache, self.checker.knowledge, "connection_closed", None, None)


def _with_code(code: int | None) -> str:
    return f" with code {code}" if code is not None else " without a close code"
