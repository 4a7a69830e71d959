"""Builders of the server events the scripted server sends: one :class:`RunWriter` per run.

Pure and synchronous. Every event built here validates against its schema in
``schemas/events/server/`` (``tests/clientsuite/test_scripted_server.py``); the only deliberate
deviations are the ones a scenario asks for through ``extra_fields`` (unknown fields, which
RWS-EVENT-3 tells clients to ignore) and :func:`foreign_event` (unknown and vendor event types).
Steering replies come from the target's writer while it runs (:meth:`RunWriter.steer_event`,
numbered from its counter) and from :func:`steer_reply` when it does not (numbered 0).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CallPlan",
    "RunWriter",
    "TextPlan",
    "connection_limit_error",
    "encode",
    "foreign_event",
    "request_error",
    "steer_reply",
]

CREATED_AT = 1767225600
_SERVER_ERROR = "The server had an error while processing your request."


def encode(event: Mapping[str, Any]) -> str:
    """The wire text of an event (compact JSON, as deployed servers send it)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class TextPlan:
    """An assistant message whose text is streamed in ``chunks`` deltas."""

    text: str
    chunks: int = 3


@dataclass(frozen=True)
class CallPlan:
    """A ``function_call`` item."""

    name: str
    arguments: str
    call_id: str


def _usage(output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 10 + output_tokens,
    }


def _split(text: str, chunks: int) -> list[str]:
    if not text:
        return [""]
    chunks = max(1, min(chunks, len(text)))
    size, rest = divmod(len(text), chunks)
    out: list[str] = []
    start = 0
    for i in range(chunks):
        end = start + size + (1 if i < rest else 0)
        out.append(text[start:end])
        start = end
    return out


@dataclass
class RunWriter:
    """The events of one run, numbered from 0 (RWS-SEQ-1..3), on one lane.

    ``extra_fields`` is merged into every event and into the response object (a scenario's
    deliberate unknown fields, RWS-EVENT-3); empty for a plain, strictly conforming run.
    """

    response_id: str
    model: str
    stream_id: str | None = None
    previous_response_id: str | None = None
    store: bool = True
    extra_fields: Mapping[str, Any] = field(default_factory=dict)
    # unknown fields of every output item, wherever the item appears (RWS-EVENT-3)
    item_fields: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)
    was_cut: bool = False  # a text item ended incomplete (text_item's cut)

    def _event(self, etype: str, **body: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"type": etype, "sequence_number": self.seq}
        self.seq += 1
        event.update(body)
        # RWS-EVENT-4/5: the lane's stream_id on every event of a named-lane run, none otherwise.
        if self.stream_id is not None:
            event["stream_id"] = self.stream_id
        event.update(self.extra_fields)
        return event

    def response(self, status: str, *, final: bool = False) -> dict[str, Any]:
        """The response object in its current state."""
        body: dict[str, Any] = {
            "id": self.response_id,
            "object": "response",
            "created_at": CREATED_AT,
            "status": status,
            "model": self.model,
            "output": [dict(item) for item in self.output] if final else [],
            "error": None,
            "incomplete_details": None,
            "usage": _usage(sum(len(json.dumps(i)) for i in self.output) // 4) if final else None,
            "previous_response_id": self.previous_response_id,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "store": self.store,
        }
        body.update(self.extra_fields)
        return body

    def created(self) -> list[dict[str, Any]]:
        """``response.created`` and ``response.in_progress``."""
        return [
            self._event("response.created", response=self.response("in_progress")),
            self._event("response.in_progress", response=self.response("in_progress")),
        ]

    def text_item(
        self, plan: TextPlan, cut: Callable[[], bool] | None = None
    ) -> Iterator[dict[str, Any]]:
        """An assistant message streamed in deltas (RWS-ORDER item grammar, RWS-DELTA-*).

        ``cut`` is asked before every delta but the first (the events are built as they are
        iterated): when it says so, the message ends there with the text streamed so far and
        status ``incomplete`` (a steered run stopping at a safe point, RWS-ORDER-11), and
        :attr:`was_cut` is set.
        """
        index = len(self.output)
        item_id = f"msg_{self.response_id.removeprefix('resp_')}_{index}"
        yield self._event(
            "response.output_item.added",
            output_index=index,
            item={
                "type": "message",
                "id": item_id,
                "role": "assistant",
                "status": "in_progress",
                "content": [],
                **self.item_fields,
            },
        )
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        yield self._event(
            "response.content_part.added",
            **where,
            part={"type": "output_text", "text": "", "annotations": []},
        )
        text = ""
        status = "completed"
        for n, piece in enumerate(_split(plan.text, plan.chunks)):
            if n and cut is not None and cut():
                status = "incomplete"
                self.was_cut = True
                break
            yield self._event("response.output_text.delta", **where, delta=piece, logprobs=[])
            text += piece
        # RWS-DELTA-1: the done text is what the deltas added up to, cut or not.
        yield self._event("response.output_text.done", **where, text=text, logprobs=[])
        part = {"type": "output_text", "text": text, "annotations": []}
        yield self._event("response.content_part.done", **where, part=part)
        item = {
            "type": "message",
            "id": item_id,
            "role": "assistant",
            "status": status,
            "content": [{**part, "logprobs": []}],
            **self.item_fields,
        }
        self.output.append(item)
        yield self._event("response.output_item.done", output_index=index, item=item)

    def call_item(self, plan: CallPlan) -> Iterator[dict[str, Any]]:
        """A ``function_call`` item with its arguments streamed in two deltas."""
        index = len(self.output)
        item_id = f"fc_{self.response_id.removeprefix('resp_')}_{index}"
        base = {
            "type": "function_call",
            "id": item_id,
            "call_id": plan.call_id,
            "name": plan.name,
            **self.item_fields,
        }
        yield self._event(
            "response.output_item.added",
            output_index=index,
            item={**base, "arguments": "", "status": "in_progress"},
        )
        for piece in _split(plan.arguments, 2):
            yield self._event(
                "response.function_call_arguments.delta",
                item_id=item_id,
                output_index=index,
                delta=piece,
            )
        yield self._event(
            "response.function_call_arguments.done",
            item_id=item_id,
            output_index=index,
            name=plan.name,
            arguments=plan.arguments,
        )
        item = {**base, "arguments": plan.arguments, "status": "completed"}
        self.output.append(item)
        yield self._event("response.output_item.done", output_index=index, item=item)

    def completed(self) -> dict[str, Any]:
        """``response.completed`` with the whole output."""
        return self._event("response.completed", response=self.response("completed", final=True))

    def incomplete(self, reason: str) -> dict[str, Any]:
        """``response.incomplete`` with the whole output and the reason (RWS-ORDER-3)."""
        response = self.response("incomplete", final=True)
        response["incomplete_details"] = {"reason": reason}
        return self._event("response.incomplete", response=response)

    def steer_event(self, etype: str, **body: Any) -> dict[str, Any]:
        """A steering event about this run while it runs: the next number of its counter and
        its lane's ``stream_id`` (RWS-STEER-3, RWS-SEQ-5)."""
        return self._event(etype, **body)

    def failed(self, message: str = _SERVER_ERROR) -> dict[str, Any]:
        """``response.failed`` with the response's error (RWS-ORDER-3, RWS-ORDER-12)."""
        response = self.response("failed", final=True)
        response["error"] = {"code": "server_error", "message": message}
        return self._event("response.failed", response=response)

    def run_error(
        self, message: str = "The server had an error while processing your request."
    ) -> dict[str, Any]:
        """An in-run ``error`` carrying the run's next ``sequence_number`` (ends the run,
        RWS-CLIENT-4)."""
        return self._event(
            "error",
            status=500,
            error={
                "type": "server_error",
                "code": "server_error",
                "message": message,
                "param": None,
            },
        )


def request_error(
    code: str,
    status: int,
    etype: str | None,
    message: str,
    param: str | None = None,
    stream_id: str | None = None,
) -> dict[str, Any]:
    """A request-scoped ``error`` event (the outcome of one ``response.create``, RWS-ERR-8).

    ``etype=None`` leaves ``error.type`` out: deployed servers do that and RWS-ERR-4 tells
    clients to accept it (a deliberate deviation from RWS-ERR-2 the scenario declares).
    """
    error: dict[str, Any] = {"code": code, "message": message, "param": param}
    if etype is not None:
        error = {"type": etype, **error}
    event: dict[str, Any] = {"type": "error", "status": status, "error": error}
    if stream_id is not None:
        event["stream_id"] = stream_id
    return event


def connection_limit_error() -> dict[str, Any]:
    """``websocket_connection_limit_reached`` (connection scope, RWS-LIMIT-1)."""
    return request_error(
        "websocket_connection_limit_reached",
        400,
        "invalid_request_error",
        "Responses websocket connection limit reached (60 minutes). Create a new websocket "
        "connection to continue.",
    )


def foreign_event(etype: str, sequence: Sequence[int] = ()) -> dict[str, Any]:
    """An event of a type the client cannot know (a future or a vendor type, RWS-EVENT-3)."""
    event: dict[str, Any] = {"type": etype, "x_note": "clients ignore this event"}
    if sequence:
        event["x_sequence"] = list(sequence)
    return event


def steer_reply(etype: str, stream_id: str | None = None, **body: Any) -> dict[str, Any]:
    """A steering event about a target that is not running: ``sequence_number`` 0, part of no
    run's sequence (RWS-SEQ-5), with the target's ``stream_id`` when it has one (RWS-STEER-3)."""
    event: dict[str, Any] = {"type": etype, "sequence_number": 0, **body}
    if stream_id is not None:
        event["stream_id"] = stream_id
    return event
