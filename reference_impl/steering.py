"""Steering, the pure part: checking a ``response.steer`` and building the steering events.

The session (:mod:`reference_impl.session_steering`) decides *when* a submission is accepted,
committed, reported pending or failed; this module holds what needs no session state: the
check of the event itself (RWS-STEER-5, against ``schemas/events/client/response.steer.json``),
one accepted :class:`Submission`, the events of the ``steering`` profile (without
``sequence_number`` and ``stream_id``: the session numbers them, RWS-STEER-3) and the request a
successor runs with (RWS-STEER-4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reference_impl import model
from reference_impl.schemas import steer_valid
from reference_impl.validation import CreateRequest

__all__ = [
    "MAX_PENDING_STEERS",
    "NEEDS_CLIENT_OUTPUT",
    "Submission",
    "accepted_event",
    "failed_event",
    "pending_event",
    "required_input",
    "steer_problem",
    "submission_items",
    "successor_request",
]

#: Accepted, uncommitted submissions one target may hold; the next is refused with
#: too_many_pending_steers (every resource is bounded).
MAX_PENDING_STEERS = 16

#: The output items that wait for the client (a tool result or an approval), with the stub
#: ``response.steer.pending`` names for each (SDK ``ResponseSteerRequiredInput``).
NEEDS_CLIENT_OUTPUT: Mapping[str, str] = {
    "function_call": "function_call_output",
    "custom_tool_call": "custom_tool_call_output",
}


@dataclass(frozen=True, slots=True)
class Submission:
    """One accepted ``response.steer``: the server owns its input until it is committed."""

    steer_id: str
    target: str  # the target response's id
    input: str | list[Any]  # as sent, echoed by response.steer.failed
    items: tuple[Mapping[str, Any], ...]  # the input as context items (A.1)


def steer_problem(event: Mapping[str, Any], *, lenient: bool = False) -> str | None:
    """Why ``event`` is not a valid ``response.steer`` (RWS-STEER-5), or None when it is.

    Only ``type``, ``previous_response_id`` and ``input`` are allowed; ``input`` is a string
    or a non-empty array of user messages. ``lenient`` (the steer-accepts-anything fault)
    checks only what the server needs to act: a target id and some input.
    """
    target = event.get("previous_response_id")
    if lenient:
        if not isinstance(target, str) or not isinstance(event.get("input"), str | list):
            return "previous_response_id and input are required"
        return None
    if "stream_id" in event:
        # RWS-STEER-9 is the client's half: the target response determines the lane.
        return "stream_id is not allowed in response.steer: the target determines the lane"
    extra = sorted(set(event) - {"type", "previous_response_id", "input"})
    if extra:
        name = extra[0][:40]  # a field name is client input of any length
        return f"unknown field {name!r}: response.steer has only previous_response_id and input"
    if not steer_valid(event):
        return "input must be a string or a non-empty array of user messages"
    return None


def _envelope(event_type: str, steer: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "steer": dict(steer), **fields}


def accepted_event(submission: Submission) -> dict[str, Any]:
    """``response.steer.accepted``: the server owns the input now (RWS-STEER-2)."""
    return _envelope(
        "response.steer.accepted",
        {"id": submission.steer_id, "previous_response_id": submission.target},
    )


def failed_event(
    target: Any, steer_input: Any, code: str, message: str, *, steer_id: str | None = None
) -> dict[str, Any]:
    """``response.steer.failed``: refused (no id) or, with the id, accepted input given back."""
    steer: dict[str, Any] = {}
    if steer_id is not None:
        steer["id"] = steer_id
    # Echoed as sent when they have the shape of the event's fields.
    steer["previous_response_id"] = target if isinstance(target, str) else ""
    steer["input"] = steer_input if isinstance(steer_input, str | list) else []
    error = {"type": "invalid_request_error", "code": code, "message": message}
    return _envelope("response.steer.failed", steer, error=error)


def required_input(output: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The stubs of the client input ``output`` waits for (empty: it needs none)."""
    stubs = []
    for item in output:
        kind = NEEDS_CLIENT_OUTPUT.get(str(item.get("type")))
        if kind is None:
            continue
        stub = {"type": kind, "call_id": item.get("call_id")}
        if kind == "function_call_output":
            stub["name"] = item.get("name")
        stubs.append(stub)
    return stubs


def pending_event(submission: Submission, stubs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``response.steer.pending``: the target completed and waits for client input first."""
    return _envelope(
        "response.steer.pending",
        {"id": submission.steer_id, "previous_response_id": submission.target},
        reason="waiting_for_required_input",
        required_input=[dict(stub) for stub in stubs],
    )


def successor_request(
    target: CreateRequest, target_id: str, submissions: Sequence[Submission]
) -> CreateRequest:
    """The request of the automatic successor of ``target`` (RWS-STEER-4).

    It continues the target (``previous_response_id``) with the accepted input, in submission
    order, and otherwise inherits the target's settings - its own budgets included (spec 9.3).
    """
    items = [dict(item) for submission in submissions for item in submission.items]
    event = {**target.event, "previous_response_id": target_id, "input": items}
    return dataclasses.replace(target, previous_response_id=target_id, input=items, event=event)


def submission_items(steer_input: str | list[Any]) -> tuple[Mapping[str, Any], ...]:
    """The input of a ``response.steer`` as context items (A.1 normalisation)."""
    return tuple(model.normalize_input(steer_input))
