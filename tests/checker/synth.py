"""Synthesise correct transcripts for the checker's tests.

:func:`run_events` builds the server events of one correct run from item specs; tests then
break exactly one thing in the list. :class:`Transcript` collects records of several
connections with a running index, so a test reads like the conversation it checks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.checker import Checker, CheckerConfig, Report
from conformance.results import Verdict
from conformance.transcript import Record

__all__ = [
    "ALL_PROFILES",
    "Call",
    "Item",
    "Message",
    "Permissive",
    "Reasoning",
    "Refusal",
    "Transcript",
    "assert_clean",
    "assert_only",
    "check",
    "chunks",
    "error_event",
    "run_events",
]

_ids = itertools.count(1)


def chunks(text: str, k: int) -> list[str]:
    """Split like the conformance model (A.3): the first L mod K pieces one longer."""
    if not text:
        return []
    k = max(1, min(k, len(text)))
    base, extra = divmod(len(text), k)
    out, pos = [], 0
    for i in range(k):
        size = base + (1 if i < extra else 0)
        out.append(text[pos : pos + size])
        pos += size
    return out


@dataclass(frozen=True)
class Message:
    """An assistant message with one output_text part."""

    text: str
    k: int = 2
    status: str = "completed"


@dataclass(frozen=True)
class Refusal:
    """An assistant message with one refusal part."""

    text: str
    k: int = 2


@dataclass(frozen=True)
class Call:
    """A function call."""

    name: str
    arguments: str
    k: int = 2


@dataclass(frozen=True)
class Reasoning:
    """A reasoning item with one summary part and one reasoning_text part."""

    summary: str
    text: str
    k: int = 2


Item = Message | Refusal | Call | Reasoning


def _response(rid: str, status: str, output: list[Any], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": 1767225600,
        "status": status,
        "model": "conformance-1",
        "output": output,
        "error": None,
        "incomplete_details": None,
        "usage": None,
    }
    body.update(extra)
    return body


def _usage(output_tokens: int = 1, cached: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 10 + output_tokens,
    }


def _item_events(item: Item, oi: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    n = next(_ids)
    ev: list[dict[str, Any]] = []
    if isinstance(item, Message | Refusal):
        iid = f"msg_{n}"
        refusal = isinstance(item, Refusal)
        empty = (
            {"type": "refusal", "refusal": ""}
            if refusal
            else {
                "type": "output_text",
                "text": "",
                "annotations": [],
            }
        )
        final_part = (
            {"type": "refusal", "refusal": item.text}
            if refusal
            else {"type": "output_text", "text": item.text, "annotations": [], "logprobs": []}
        )
        status = "completed" if refusal else item.status  # type: ignore[union-attr]
        added = {
            "type": "message",
            "id": iid,
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        done = {
            "type": "message",
            "id": iid,
            "role": "assistant",
            "status": status,
            "content": [final_part],
        }
        key = {"item_id": iid, "output_index": oi, "content_index": 0}
        ev.append({"type": "response.output_item.added", "output_index": oi, "item": added})
        ev.append({"type": "response.content_part.added", **key, "part": empty})
        for piece in chunks(item.text, item.k):
            if refusal:
                ev.append({"type": "response.refusal.delta", **key, "delta": piece})
            else:
                ev.append(
                    {"type": "response.output_text.delta", **key, "delta": piece, "logprobs": []}
                )
        if refusal:
            ev.append({"type": "response.refusal.done", **key, "refusal": item.text})
        else:
            ev.append(
                {"type": "response.output_text.done", **key, "text": item.text, "logprobs": []}
            )
        ev.append({"type": "response.content_part.done", **key, "part": final_part})
        ev.append({"type": "response.output_item.done", "output_index": oi, "item": done})
        return ev, done
    if isinstance(item, Call):
        iid = f"fc_{n}"
        base = {"type": "function_call", "id": iid, "call_id": f"call_{n}", "name": item.name}
        added = {**base, "arguments": "", "status": "in_progress"}
        done = {**base, "arguments": item.arguments, "status": "completed"}
        key = {"item_id": iid, "output_index": oi}
        ev.append({"type": "response.output_item.added", "output_index": oi, "item": added})
        for piece in chunks(item.arguments, item.k):
            ev.append({"type": "response.function_call_arguments.delta", **key, "delta": piece})
        ev.append(
            {"type": "response.function_call_arguments.done", **key, "arguments": item.arguments}
        )
        ev.append({"type": "response.output_item.done", "output_index": oi, "item": done})
        return ev, done
    iid = f"rs_{n}"
    added = {"type": "reasoning", "id": iid, "summary": [], "status": "in_progress"}
    done = {
        "type": "reasoning",
        "id": iid,
        "summary": [{"type": "summary_text", "text": item.summary}],
        "content": [{"type": "reasoning_text", "text": item.text}],
        "status": "completed",
    }
    skey = {"item_id": iid, "output_index": oi, "summary_index": 0}
    ckey = {"item_id": iid, "output_index": oi, "content_index": 0}
    ev.append({"type": "response.output_item.added", "output_index": oi, "item": added})
    ev.append(
        {
            "type": "response.reasoning_summary_part.added",
            **skey,
            "part": {"type": "summary_text", "text": ""},
        }
    )
    for piece in chunks(item.summary, item.k):
        ev.append({"type": "response.reasoning_summary_text.delta", **skey, "delta": piece})
    ev.append({"type": "response.reasoning_summary_text.done", **skey, "text": item.summary})
    ev.append(
        {
            "type": "response.reasoning_summary_part.done",
            **skey,
            "part": {"type": "summary_text", "text": item.summary},
        }
    )
    ev.append(
        {
            "type": "response.content_part.added",
            **ckey,
            "part": {"type": "reasoning_text", "text": ""},
        }
    )
    for piece in chunks(item.text, item.k):
        ev.append({"type": "response.reasoning_text.delta", **ckey, "delta": piece})
    ev.append({"type": "response.reasoning_text.done", **ckey, "text": item.text})
    ev.append(
        {
            "type": "response.content_part.done",
            **ckey,
            "part": {"type": "reasoning_text", "text": item.text},
        }
    )
    ev.append({"type": "response.output_item.done", "output_index": oi, "item": done})
    return ev, done


def run_events(
    items: Iterable[Item] = (Message("Hello there."),),
    *,
    rid: str | None = None,
    stream_id: str | None = None,
    end: str = "completed",
    usage: Mapping[str, Any] | None = None,
    cached_tokens: int = 0,
) -> list[dict[str, Any]]:
    """The events of one correct run (``end``: completed, incomplete or failed)."""
    rid = rid or f"resp_{next(_ids)}"
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response(rid, "in_progress", [])},
        {"type": "response.in_progress", "response": _response(rid, "in_progress", [])},
    ]
    output: list[Any] = []
    for oi, item in enumerate(items):
        ev, done = _item_events(item, oi)
        events += ev
        output.append(done)
    if end == "failed":
        error = {"code": "server_error", "message": "The model failed."}
        events.append(
            {"type": "response.failed", "response": _response(rid, "failed", output, error=error)}
        )
    else:
        extra: dict[str, Any] = {"usage": dict(usage) if usage else _usage(cached=cached_tokens)}
        if end == "incomplete":
            extra["incomplete_details"] = {"reason": "max_output_tokens"}
        events.append({"type": f"response.{end}", "response": _response(rid, end, output, **extra)})
    for seq, event in enumerate(events):
        event["sequence_number"] = seq
        if stream_id is not None:
            event["stream_id"] = stream_id
    # No shared sub-objects: a test that breaks one place breaks only that place.
    copied: list[dict[str, Any]] = json.loads(json.dumps(events))
    return copied


def error_event(
    code: str,
    *,
    status: int = 400,
    param: str | None = None,
    stream_id: str | None = None,
    type_: str = "invalid_request_error",
    **extra: Any,
) -> dict[str, Any]:
    """A wrapped error event."""
    event: dict[str, Any] = {
        "type": "error",
        "status": status,
        "error": {"type": type_, "code": code, "message": f"{code}.", "param": param},
    }
    if stream_id is not None:
        event["stream_id"] = stream_id
    event.update(extra)
    return event


@dataclass
class Transcript:
    """Records of a test transcript, with a running index."""

    records: list[Record] = field(default_factory=list)
    # Seconds added to every later record's ts (see wait()).
    offset: float = 0.0

    def _add(self, **fields: Any) -> Record:
        ts = len(self.records) / 1000 + self.offset
        record = Record(index=len(self.records), ts=ts, **fields)
        self.records.append(record)
        return record

    def wait(self, seconds: float) -> Transcript:
        """Time passes: later records are ``seconds`` later (a connection ages)."""
        self.offset += seconds
        return self

    def open(self, conn: str = "c1", principal: str | None = "key-a") -> Transcript:
        """The connection opens."""
        self._add(
            kind="open",
            conn=conn,
            url="ws://127.0.0.1/v1/responses",
            status=101,
            principal=principal,
        )
        return self

    def send(self, payload: Mapping[str, Any] | str, conn: str = "c1") -> Transcript:
        """The client sends a text message."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._add(kind="text", conn=conn, dir="c2s", text=text)
        return self

    def create(self, conn: str = "c1", **fields: Any) -> Transcript:
        """The client sends response.create."""
        body: dict[str, Any] = {"type": "response.create", "model": "conformance-1", "input": "hi"}
        body.update(fields)
        return self.send(body, conn)

    def recv(self, *events: Mapping[str, Any] | str, conn: str = "c1") -> Transcript:
        """The server sends events."""
        for event in events:
            text = event if isinstance(event, str) else json.dumps(event)
            self._add(kind="text", conn=conn, dir="s2c", text=text)
        return self

    def binary(self, data: bytes, direction: str = "c2s", conn: str = "c1") -> Transcript:
        """A binary message."""
        self._add(kind="binary", conn=conn, dir=direction, data=data)
        return self

    def ping(self, payload: bytes = b"", direction: str = "c2s", conn: str = "c1") -> Transcript:
        """A WebSocket ping (from the client unless ``direction`` says otherwise)."""
        self._add(kind="ping", conn=conn, dir=direction, data=payload)
        return self

    def pong(self, payload: bytes = b"", direction: str = "s2c", conn: str = "c1") -> Transcript:
        """A WebSocket pong (from the server unless ``direction`` says otherwise)."""
        self._add(kind="pong", conn=conn, dir=direction, data=payload)
        return self

    def close(self, conn: str = "c1", direction: str = "c2s", code: int = 1000) -> Transcript:
        """The connection closes."""
        self._add(kind="close", conn=conn, dir=direction, code=code, reason="")
        return self


class Permissive:
    """A validator that accepts everything: isolates checks from schema validity (EVENT-1)."""

    def __init__(self) -> None:
        from conformance.schemas import server_event_types

        self._types = server_event_types()

    def is_valid(self, event: object, *, direction: Any = None) -> bool:
        """Every event is valid."""
        return True

    def errors(self, event: object, *, direction: Any = None) -> list[Any]:
        """No errors."""
        return []

    def server_event_types(self) -> frozenset[str]:
        """The real server event types."""
        return self._types


ALL_PROFILES = ("core", "multiplex", "steering", "conformance-model")


def check(
    transcript: Transcript | Iterable[Record],
    *,
    profiles: Iterable[str] = ("core", "multiplex"),
    roles: Iterable[str] = ("server", "client"),
    permissive: bool = False,
    **parameters: str,
) -> Report:
    """Run the checker over a transcript."""
    records = transcript.records if isinstance(transcript, Transcript) else list(transcript)
    config = CheckerConfig.make(profiles=profiles, roles=roles, **parameters)
    checker = Checker(config, validator=Permissive() if permissive else None)
    return checker.feed_all(records)


def assert_clean(report: Report, *exercised: str) -> None:
    """No findings at all, and each named requirement was evaluated."""
    assert [f"{f.requirement}: {f.message}" for f in report.findings] == []
    for requirement in exercised:
        assert report.exercised.get(requirement, 0) > 0, f"{requirement} not exercised"


def assert_only(report: Report, requirement: str, verdict: Verdict = Verdict.FAILED) -> None:
    """Findings only about ``requirement``, with that verdict."""
    found = {(f.requirement, f.verdict) for f in report.findings}
    messages = [f"{f.requirement}: {f.message}" for f in report.findings]
    assert found == {(requirement, verdict)}, messages
