"""A recorded stream of server-sent events as a transcript (``responses-ws validate``).

A body saved from ``POST /v1/responses`` with ``stream: true`` (``curl -N ... > run.sse``) is
one HTTP exchange; spec section 13 makes it the only request of a new WebSocket connection.
:func:`sse_records` writes it as the transcript connection the suite's HTTP transport writes
(:mod:`conformance.transport_http`): ``open`` (200, ``text/event-stream``), the request, one
record per server-sent event, the server's ``close`` where the body ends. The checker then
judges the events by the rules of a run and the framing by RWS-HTTP-3 to RWS-HTTP-8.

The request is the JSON body that was sent, when it was kept; else it is rebuilt from the
``response`` of ``response.created``, which echoes the request's fields, and the record says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conformance.checker.sse import SseDecoder
from conformance.transcript import Record

__all__ = ["REBUILT_NOTE", "looks_like_sse", "sse_records"]

#: The note of a request rebuilt from ``response.created`` (it was not recorded).
REBUILT_NOTE = "not recorded: rebuilt from the response.created the stream begins with"
# The request fields a response object echoes (the skeleton of a run, spec section 4).
_ECHOED = (
    "model",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "text",
    "reasoning",
    "metadata",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "truncation",
    "previous_response_id",
    "store",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "user",
)
_SSE_FIELDS = (b"event:", b"data:", b"id:", b"retry:", b":")


def looks_like_sse(head: bytes) -> bool:
    """Whether a file that starts with ``head`` is a stream of server-sent events."""
    for line in head.splitlines():
        if line.strip():
            return line.lstrip().startswith(_SSE_FIELDS)
    return False


def sse_records(
    data: bytes, *, request: Mapping[str, Any] | None = None, conn: str = "h1"
) -> list[Record]:
    """The transcript records of one recorded streamed answer (see the module docstring)."""
    decoder = SseDecoder()
    events = decoder.feed(data) + decoder.finish()
    records: list[Record] = []

    def add(**fields: Any) -> None:
        records.append(Record(index=len(records), conn=conn, **fields))

    add(
        kind="open",
        url="/v1/responses",
        status=200,
        headers={"content-type": "text/event-stream"},
        extra={"http": {"method": "POST", "target": "/v1/responses"}},
    )
    note: str | None = None
    if request is None:
        request, note = _rebuilt(events[0].data if events else ""), REBUILT_NOTE
    event = {**request, "type": "response.create", "stream": True}
    add(kind="text", dir="c2s", text=json.dumps(event, separators=(",", ":")), note=note)
    for sse in events:
        add(kind="text", dir="s2c", text=sse.data, extra={"http": {"sse": sse.event}})
    add(kind="close", dir="s2c", reason="end of the HTTP answer")
    return records


def _rebuilt(first: str) -> dict[str, Any]:
    try:
        created = json.loads(first)
    except (ValueError, RecursionError):
        created = None
    response = created.get("response") if isinstance(created, dict) else None
    if not isinstance(response, dict):
        return {}
    return {name: response[name] for name in _ECHOED if response.get(name) is not None}
