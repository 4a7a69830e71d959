"""RWS-STEER-7 over a whole transcript: a client never resends steering input that was accepted.

Each ``response.steer`` the client sends is a *submission* that moves through the states of
spec 9.6, as the server's steering events say: ``sent``; ``refused`` (``response.steer.failed``
without ``steer.id``); ``accepted`` (``response.steer.accepted``); ``pending``
(``response.steer.pending``); ``committed`` (the ``response.created`` of the successor that
continues the target, or of the client's request that continues it after
``response.steer.pending``); ``returned`` (``response.steer.failed`` with the accepted
``steer.id``); ``unknown`` (its connection closed before it was committed: spec 9.4, the client
cannot know whether it was applied). Replies are matched like the server's checker matches
them: an accepted or refused reply answers the oldest unanswered steer of its connection with
that target, a failure or pending notice with an id names its submission.

What counts as *resending* (the reading this module judges; the specification says only
"resend"): while a submission is *held* by the server - accepted, pending or committed - the
client sends its input again into the same conversation:

* a ``response.steer`` with the same input (item for item, by :func:`essence`) whose target is
  the submission's target or a response continuing it (its successor, or any later response
  of that chain);
* a ``response.create`` whose ``previous_response_id`` is the target or a response continuing
  it and whose ``input`` holds the submission's input items (in order, contiguous): the server
  already placed them (committed) or will place them (pending: before the request's input);
* a ``response.create`` without ``previous_response_id`` that rebuilds that conversation (its
  input starts with the target's full context) and holds the input more often than the
  conversation does: once more than the target's context when the input was committed (a
  full-context resend after a lost cache rightly carries committed input once), as often as
  the target's context when the server still holds it uncommitted.

So input that was refused or given back (``response.steer.failed``) is the client's again and
may be sent in any way; input whose fate is unknown is not judged; and the same words in an
unrelated conversation are no resend. A message is judged only after the acceptance is on the
wire (before it, the client could not know). Every client message into the conversation of an
accepted submission, held or given back, counts as one evaluation of RWS-STEER-7.

The transcript walker of :mod:`conformance.checker.client` feeds this ledger and asks it which
accepted input a successor, or a request continuing a target, commits (its effective context).
Sans-I/O and synchronous like the rest of the checker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.checker.findings import Recorder
from conformance.checker.model import normalize_input

__all__ = ["STEER_RESEND", "SteerLedger"]

Essence = tuple[str, ...]
# RWS-STEER-7: the requirement this ledger judges.
STEER_RESEND: tuple[str, ...] = ("RWS-STEER-7",)
# Submission states in which the server holds the input (spec 9.6).
_HELD = frozenset({"accepted", "pending", "committed"})
# The states of a submission that was accepted at some point.
_WAS_ACCEPTED = _HELD | {"returned", "unknown"}
_LINEAGE_LIMIT = 256


@dataclass
class _Submission:
    index: int  # the response.steer record
    conn: str
    target: str
    input: tuple[Essence, ...]
    state: str = "sent"
    id: str | None = None
    accepted_at: int | None = None  # the response.steer.accepted record


def _occurrences(items: Sequence[Essence], part: Sequence[Essence]) -> int:
    """How often ``part`` occurs in ``items`` as a contiguous run."""
    if not part or len(part) > len(items):
        return 0
    n = len(part)
    return sum(1 for i in range(len(items) - n + 1) if tuple(items[i : i + n]) == tuple(part))


class SteerLedger:
    """The client's steering submissions, and RWS-STEER-7 judged on its later messages."""

    def __init__(self, recorder: Recorder, essence: Callable[[Any], Essence]) -> None:
        self.rec = recorder
        self.essence = essence
        self.subs: list[_Submission] = []
        self.parents: dict[str, str | None] = {}

    # --- what the walker tells the ledger ------------------------------------------------------

    def lineage(self, response_id: str, previous: str | None) -> None:
        """A response of the transcript and the response it continues."""
        self.parents[response_id] = previous

    def items(self, value: Any) -> tuple[Essence, ...]:
        """A steering or request input as item essences."""
        return tuple(self.essence(i) for i in normalize_input(value) or [])

    def steer(self, index: int, conn: str, body: Mapping[str, Any]) -> None:
        """A ``response.steer`` the client sent: judged, then recorded as a submission."""
        target = body.get("previous_response_id")
        sent = self.items(body.get("input"))
        if isinstance(target, str):
            self._judge_steer(index, conn, target, sent)
            self.subs.append(_Submission(index, conn, target, sent))

    def server(self, index: int, conn: str, event: Mapping[str, Any]) -> None:
        """A steering event of the server: the submission it is about moves on."""
        etype = event.get("type")
        steer = event.get("steer")
        steer = steer if isinstance(steer, Mapping) else {}
        target = steer.get("previous_response_id")
        sid = steer.get("id")
        if etype == "response.steer.accepted" or (etype == "response.steer.failed" and sid is None):
            # The answer to the oldest unanswered steer of the connection for that target.
            sub = next(
                (
                    s
                    for s in self.subs
                    if s.conn == conn and s.state == "sent" and s.target == target
                ),
                None,
            )
            if sub is None:
                return
            if etype == "response.steer.accepted":
                sub.state, sub.id, sub.accepted_at = "accepted", sid, index
            else:
                sub.state = "refused"
            return
        sub = next(
            (s for s in self.subs if s.conn == conn and s.id is not None and s.id == sid), None
        )
        if sub is None:
            return
        if etype == "response.steer.pending" and sub.state == "accepted":
            sub.state = "pending"
        elif etype == "response.steer.failed" and sub.state in ("accepted", "pending"):
            # RWS-STEER-8 / RWS-STEER-10: given back; the client owns the input again.
            sub.state = "returned"

    def successor_due(self, conn: str, target: str) -> bool:
        """Whether a ``response.created`` continuing ``target`` that answers no request is its
        successor: accepted input for it waits on this connection (RWS-STEER-4)."""
        return any(
            s.conn == conn and s.target == target and s.state == "accepted" for s in self.subs
        )

    def held_for(self, conn: str, target: str) -> list[Essence]:
        """The uncommitted input the server holds for ``target`` on this connection, in
        submission order: what it places before a request continuing the target (spec 9.3)."""
        return [
            item
            for s in self.subs
            if s.conn == conn and s.target == target and s.state in ("accepted", "pending")
            for item in s.input
        ]

    def commit(self, conn: str, target: str) -> list[Essence]:
        """A successor's (or a continuing request's) ``response.created``: the uncommitted
        input for ``target`` is committed; returns it in submission order."""
        out: list[Essence] = []
        for s in self.subs:
            if s.conn == conn and s.target == target and s.state in ("accepted", "pending"):
                s.state = "committed"
                out.extend(s.input)
        return out

    def closed(self, conn: str) -> None:
        """The connection closed: its uncommitted input has an unknown fate (spec 9.4)."""
        for s in self.subs:
            if s.conn == conn and s.state in ("sent", "accepted", "pending"):
                s.state = "unknown" if s.state != "sent" else "lost"

    # --- judging -------------------------------------------------------------------------------

    def continues(self, response_id: str | None, target: str) -> bool:
        """Whether ``response_id`` is ``target`` or a response of the chain continuing it."""
        current = response_id
        for _ in range(_LINEAGE_LIMIT):
            if current is None:
                return False
            if current == target:
                return True
            current = self.parents.get(current)
        return False

    def _accepted_before(self, index: int) -> list[_Submission]:
        return [
            s
            for s in self.subs
            if s.state in _WAS_ACCEPTED and s.accepted_at is not None and s.accepted_at < index
        ]

    def _judge_steer(self, index: int, conn: str, target: str, sent: tuple[Essence, ...]) -> None:
        for sub in self._accepted_before(index):
            if not self.continues(target, sub.target):
                continue
            self.rec.exercise(STEER_RESEND)
            if sub.state in _HELD and sent == sub.input:
                self._report(
                    sub,
                    f"response.steer to {target} with the same input",
                    conn,
                    index,
                )

    def create(
        self,
        index: int,
        conn: str,
        previous: str | None,
        sent: Sequence[Essence],
        context_of: Callable[[str], Sequence[Essence] | None],
    ) -> None:
        """Judge a ``response.create`` (``sent``: its input's essences; ``context_of``: the
        full context, then output, of a response the transcript knows)."""
        for sub in self._accepted_before(index):
            if previous is not None:
                if not self.continues(previous, sub.target):
                    continue
                self.rec.exercise(STEER_RESEND)
                if sub.state in _HELD and _occurrences(sent, sub.input):
                    self._report(
                        sub,
                        f"response.create continuing {previous} with it in its input",
                        conn,
                        index,
                    )
                continue
            base = context_of(sub.target)
            if base is None or tuple(sent[: len(base)]) != tuple(base):
                continue  # not a rebuild of that conversation
            self.rec.exercise(STEER_RESEND)
            if sub.state not in _HELD:
                continue
            allowed = _occurrences(base, sub.input) + (1 if sub.state == "committed" else 0)
            found = _occurrences(sent, sub.input)
            if found > allowed:
                self._report(
                    sub,
                    f"response.create without previous_response_id whose input holds it "
                    f"{found} time(s), the conversation {allowed}",
                    conn,
                    index,
                )

    def _report(self, sub: _Submission, what: str, conn: str, index: int) -> None:
        records = [sub.index, index] + ([sub.accepted_at] if sub.accepted_at is not None else [])
        self.rec.report(
            STEER_RESEND,
            f"expected steering input accepted as {sub.id} (target {sub.target}) not sent "
            f"again while the server holds it ({sub.state}) / actual {what}",
            conn,
            records,
        )
