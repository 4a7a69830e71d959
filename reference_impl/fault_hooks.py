"""The fault switches that break a run's events or a request as a whole (see faults.py).

The session calls :func:`break_events` on every generated run and :func:`break_request` on
every ``response.create`` before it is checked, only when a fault is on. They sit here, apart
from the session, because each is a deliberate violation of one rule: the correct behaviour
is the session's, its broken twin is one line below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol

from reference_impl.errors import RequestError
from reference_impl.faults import Faults

__all__ = ["break_events", "break_request", "drop_pongs"]

_TERMINAL = ("response.completed", "response.incomplete", "response.failed")
# The top-level fields of response.create the reject-unknown-field fault still accepts.
_KNOWN_FIELDS = frozenset(
    {
        "type", "model", "input", "instructions", "previous_response_id", "store", "generate",
        "stream", "stream_id", "stream_options", "background", "max_output_tokens", "metadata",
        "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p", "truncation",
        "reasoning", "text", "user", "include", "service_tier", "prompt_cache_key",
    }
)  # fmt: skip


def break_request(event: Mapping[str, Any], faults: Faults) -> RequestError | None:
    """The refusal a fault switch gives a ``response.create`` a correct server serves."""
    if faults.active("reject-unknown-field"):
        # Fault: RWS-CREATE-4 asks to ignore unknown top-level fields.
        unknown = sorted(set(event) - _KNOWN_FIELDS)
        if unknown:
            return RequestError("invalid_value", f"Unknown field '{unknown[0]}'.", param=unknown[0])
    if faults.active("refuse-stream-options") and "stream_options" in event:
        # Fault: RWS-CREATE-14 asks to accept stream_options.
        return RequestError(
            "invalid_value", "stream_options is not supported.", param="stream_options"
        )
    return None


def _text_done_mismatch(events: list[dict[str, Any]], event_type: str, field: str) -> None:
    for event in events:
        if event["type"] == event_type:
            event[field] += "!"


def break_events(
    events: list[dict[str, Any]], faults: Faults, ids: Callable[[str], str]
) -> list[dict[str, Any]]:
    """Apply the fault switches that break the ordering grammar or the deltas of a run."""
    if not faults:
        return events
    events = [dict(event) for event in events]  # the faults below edit events in place
    if faults.active("created-not-first") and len(events) > 1:
        events[0], events[1] = events[1], events[0]
    if faults.active("in-progress-twice"):
        twice = [i for i, e in enumerate(events) if _is(e, "response.in_progress")][:1]
        for index in twice:
            events.insert(index + 1, dict(events[index]))
    if faults.active("no-item-added"):
        events = [e for e in events if e["type"] != "response.output_item.added"]
    if faults.active("no-part-added"):
        events = [e for e in events if e["type"] != "response.content_part.added"]
    if faults.active("undefined-event") and len(events) > 1:
        events.insert(1, {"type": "response.debug", "note": "not an event of the spec"})
    if faults.active("wrong-item-id"):
        for event in events:
            if event["type"].endswith(".delta") and "item_id" in event:
                event["item_id"] = ids("msg")
                break
    if faults.active("delta-mismatch"):
        _text_done_mismatch(events, "response.output_text.done", "text")
    if faults.active("refusal-delta-mismatch"):
        _text_done_mismatch(events, "response.refusal.done", "refusal")
    if faults.active("reasoning-delta-mismatch"):
        _text_done_mismatch(events, "response.reasoning_summary_text.done", "text")
    # Faults: RWS-DELTA-5 asks the done text of each tool call to equal its deltas.
    if faults.active("custom-input-mismatch"):
        _text_done_mismatch(events, "response.custom_tool_call_input.done", "input")
    if faults.active("mcp-arguments-mismatch"):
        _text_done_mismatch(events, "response.mcp_call_arguments.done", "arguments")
    if faults.active("code-delta-mismatch"):
        _text_done_mismatch(events, "response.code_interpreter_call_code.done", "code")
    for index, event in enumerate(events):
        if faults.active("annotation-mismatch") and _is(
            event, "response.output_text.annotation.added"
        ):
            # Fault: RWS-DELTA-7 asks for the annotation the final part lists at this index.
            announced = dict(event["annotation"])
            announced["title"] = f"{announced.get('title', '')}!"
            events[index] = {**event, "annotation": announced}
        if faults.active("part-added-not-empty") and _is(event, "response.content_part.added"):
            events[index] = {**event, "part": {**event["part"], "text": "x"}}
        if faults.active("item-done-in-progress") and _is(event, "response.output_item.done"):
            events[index] = {**event, "item": {**event["item"], "status": "in_progress"}}
        if faults.active("created-missing-object") and _is(event, "response.created"):
            response = dict(event["response"])
            response.pop("object", None)
            events[index] = {**event, "response": response}
    if faults.active("failed-ends-error") and events[-1]["type"] == "response.failed":
        error = events[-1]["response"].get("error") or {}
        message = str(error.get("message", "The run failed."))
        events.insert(len(events) - 1, _mid_run_error(message))
    terminal = events[-1]
    if terminal["type"] in _TERMINAL:
        events[-1] = _break_terminal(terminal, faults, ids)
    return events


def _mid_run_error(message: str) -> dict[str, Any]:
    """An error event of a run (the session numbers it like the run's other events)."""
    return {
        "type": "error",
        "status": 500,
        "error": {
            "type": "server_error",
            "code": "server_error",
            "message": message,
            "param": None,
        },
    }


def _is(event: Mapping[str, Any], event_type: str) -> bool:
    return event.get("type") == event_type


def _break_terminal(
    terminal: dict[str, Any], faults: Faults, ids: Callable[[str], str]
) -> dict[str, Any]:
    response = dict(terminal["response"])
    if faults.active("empty-terminal-output"):
        response["output"] = []
    if faults.active("wrong-response-id"):
        response["id"] = ids("resp")
    if faults.active("wrong-cached-tokens") and isinstance(response.get("usage"), dict):
        usage = dict(response["usage"])
        usage["input_tokens_details"] = {"cached_tokens": usage["input_tokens"]}
        response["usage"] = usage
    if faults.active("terminal-in-progress"):
        response["status"] = "in_progress"
    if faults.active("incomplete-ends-completed") and terminal["type"] == "response.incomplete":
        # Fault: RWS-ORDER-11, a run with an incomplete item ends with response.incomplete.
        response["status"] = "completed"
        response["incomplete_details"] = None
        return {**terminal, "type": "response.completed", "response": response}
    if faults.active("failed-ends-error") and terminal["type"] == "response.failed":
        # Fault: RWS-ORDER-12, after a mid-run error a failing run ends with response.failed.
        response["status"] = "completed"
        response["error"] = None
        return {**terminal, "type": "response.completed", "response": response}
    return {**terminal, "response": response}


def drop_pongs(protocol: Protocol) -> None:
    """The no-pong fault: the connection sends no pong (RFC 6455 and RWS-TRANS-9 ask for one).

    The websockets protocol answers pings itself; the fault filters what it sends.
    """
    send_frame = protocol.send_frame

    def send(frame: Frame) -> None:
        if frame.opcode is not Opcode.PONG:
            send_frame(frame)

    protocol.send_frame = send  # type: ignore[method-assign]
