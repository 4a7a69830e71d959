"""Split what a connection received into request outcomes, lane by lane (sans-I/O).

RWS-CREATE-12 gives every ``response.create`` exactly one outcome on its lane: one run (from
``response.created`` to its terminal event) or one request-scoped ``error``. Outcomes on one
lane come in request order (RWS-LANE-9), so the n-th outcome of a lane answers the n-th
request sent on it. Scenarios use this to find "the answer to my k-th request" without
re-implementing the checker's rules: nothing here judges the events, it only groups them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from conformance import _paths
from conformance.wording import error_event, lane_name, value_text

__all__ = [
    "TERMINAL_TYPES",
    "Outcome",
    "error_code",
    "error_registry",
    "lane_of",
    "missing_outcome",
    "outcomes",
    "strays",
]

TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})


@cache
def error_registry() -> Mapping[str, Mapping[str, Any]]:
    """The ``codes`` of ``schemas/rules/errors.json``."""
    path = _paths.schemas_dir() / "rules" / "errors.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    codes: Mapping[str, Mapping[str, Any]] = data.get("codes", {})
    return codes


def lane_of(event: Mapping[str, Any]) -> str | None:
    """The lane an event belongs to: its ``stream_id``, or None for the default lane."""
    value = event.get("stream_id")
    return value if isinstance(value, str) else None


def error_code(event: Mapping[str, Any]) -> str | None:
    """The ``error.code`` of an ``error`` event (or the flat ``code``), or None."""
    inner = event.get("error")
    if isinstance(inner, Mapping) and isinstance(inner.get("code"), str):
        return str(inner["code"])
    flat = event.get("code")
    return flat if isinstance(flat, str) else None


def _is_request_outcome_error(event: Mapping[str, Any]) -> bool:
    # Frame- and connection-scoped errors answer no request; errors whose registry entry
    # says they never carry a stream_id (invalid_stream_id) cannot be placed on a lane.
    if event.get("type") != "error" or "sequence_number" in event:
        return False
    entry = error_registry().get(error_code(event) or "")
    if entry is None:
        return True
    return entry.get("scope") == "request" and entry.get("stream_id") != "never"


@dataclass(frozen=True)
class Outcome:
    """The outcome of one request on a lane."""

    kind: str  # "run" or "error"
    events: tuple[Mapping[str, Any], ...]
    complete: bool  # a run has its terminal event (errors are always complete)

    @property
    def first(self) -> Mapping[str, Any]:
        """The first event (``response.created`` or the ``error``)."""
        return self.events[0]

    @property
    def terminal(self) -> Mapping[str, Any] | None:
        """The terminal event of a complete run."""
        return self.events[-1] if self.kind == "run" and self.complete else None

    @property
    def status(self) -> str | None:
        """``completed``/``incomplete``/``failed`` for a finished run; ``error``; or None."""
        if self.kind == "error":
            return "error"
        terminal = self.terminal
        return str(terminal["type"]).removeprefix("response.") if terminal else None

    @property
    def response(self) -> Mapping[str, Any]:
        """The latest ``response`` object of a run (terminal when complete)."""
        for event in reversed(self.events):
            value = event.get("response")
            if isinstance(value, Mapping):
                return value
        return {}

    @property
    def response_id(self) -> str | None:
        """The run's response id, from its first event that names one."""
        for event in self.events:
            value = event.get("response")
            if isinstance(value, Mapping) and isinstance(value.get("id"), str):
                return str(value["id"])
        return None

    @property
    def code(self) -> str | None:
        """The error code of an error outcome (or of a failed run's ``response.error``)."""
        if self.kind == "error":
            return error_code(self.first)
        error = self.response.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("code"), str):
            return str(error["code"])
        return None

    def output_texts(self) -> list[str]:
        """The ``output_text`` texts of the terminal response's message items, in order."""
        texts: list[str] = []
        for item in self.response.get("output") or []:
            if not isinstance(item, Mapping) or item.get("type") != "message":
                continue
            for part in item.get("content") or []:
                if isinstance(part, Mapping) and part.get("type") == "output_text":
                    texts.append(str(part.get("text", "")))
        return texts

    def of_type(self, event_type: str) -> list[Mapping[str, Any]]:
        """The run's events of one type."""
        return [event for event in self.events if event.get("type") == event_type]

    @property
    def lane(self) -> str | None:
        """The lane the outcome arrived on (the first event's ``stream_id``)."""
        return lane_of(self.first)

    def describe(self, *, lane: bool = True) -> str:
        """What came back, for a message: the error event with its fields as received, or
        the run with its response id, its lane when named (``lane``), and how it ended.

        ``an `error` event with code `x` and type `y`, without `status```;
        ``a run of response `resp_1` that ended with `response.failed` (`response.error`
        code `server_error`)``; ``a run ... that has sent no terminal event (last:
        `response.output_text.delta`)``.
        """
        if self.kind == "error":
            return error_event(self.first, lane=lane)
        rid = self.response_id
        text = f"a run of response {value_text(rid)}" if rid else "a run without a response id"
        if lane and self.lane is not None:
            text += f" on {lane_name(self.lane)}"
        terminal = self.terminal
        if terminal is None:
            last = self.events[-1].get("type")
            return f"{text} that has sent no terminal event (last: `{last}`)"
        text += f" that ended with `{terminal.get('type')}`"
        if self.status == "failed":
            error = self.response.get("error")
            code = error.get("code") if isinstance(error, Mapping) else None
            text += (
                f" (`response.error` code {value_text(code)})"
                if code is not None
                else " (without `response.error.code`)"
            )
        return text


def outcomes(events: Iterable[Mapping[str, Any]], lane: str | None) -> list[Outcome]:
    """Group the events received on one connection into the outcomes of ``lane``, in order.

    The last outcome may be an unfinished run (``complete`` False). A request-scoped error
    that arrives while a run is streaming (a ``busy-lane=reject`` refusal) answers a later
    request, so it is placed after that run.
    """
    result: list[Outcome] = []
    current: list[Mapping[str, Any]] | None = None
    pending: list[Outcome] = []
    for event in events:
        if lane_of(event) != lane:
            continue
        event_type = event.get("type")
        if current is None:
            if event_type == "response.created":
                current = [event]
            elif _is_request_outcome_error(event):
                result.append(Outcome("error", (event,), True))
            continue
        if _is_request_outcome_error(event):
            pending.append(Outcome("error", (event,), True))
            continue
        current.append(event)
        if event_type in TERMINAL_TYPES:
            result.append(Outcome("run", tuple(current), True))
            result.extend(pending)
            current = None
            pending = []
    if current is not None:
        result.append(Outcome("run", tuple(current), False))
        result.extend(pending)
    return result


def strays(events: Iterable[Mapping[str, Any]], sent: Mapping[str | None, int]) -> list[Outcome]:
    """The outcomes on lanes beyond the requests sent there, in arrival order.

    ``sent`` counts the requests sent per lane. An outcome past that count answers no request
    of its lane: it is the answer to a request of another lane that arrived on the wrong one
    (a named lane's run without ``stream_id`` lands on the default lane).
    """
    listed = list(events)
    found: list[Outcome] = []
    for lane in dict.fromkeys(lane_of(event) for event in listed):
        found.extend(outcomes(listed, lane)[sent.get(lane, 0) :])
    order = {id(event): position for position, event in enumerate(listed)}
    return sorted(found, key=lambda outcome: order[id(outcome.first)])


def missing_outcome(
    events: Iterable[Mapping[str, Any]],
    lane: str | None,
    index: int,
    sent: Mapping[str | None, int],
) -> str:
    """Why the ``index``-th outcome of ``lane`` is not complete, in terms of what arrived.

    Either its run started and sent no terminal event, or nothing arrived on the lane for it;
    then an outcome that arrived on another lane without a request there is named, since it
    is most likely this request's answer on the wrong lane.
    """
    listed = list(events)
    found = outcomes(listed, lane)
    if len(found) > index:
        return found[index].describe()
    text = (
        f"nothing arrived on {lane_name(lane)} for it (neither `response.created` nor a "
        "request-scoped `error` event)"
    )
    elsewhere = [o for o in strays(listed, sent) if o.lane != lane]
    if elsewhere:
        other = elsewhere[0]
        carries = (
            "its events carry no `stream_id`"
            if other.lane is None
            else f"its events carry `stream_id` {value_text(other.lane)}"
        )
        answer = other.describe(lane=False)
        text += f"; {answer} arrived on {lane_name(other.lane)} instead ({carries})"
    return text
