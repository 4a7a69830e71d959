"""How the suite words what it saw on the wire, in messages a stranger reads.

One place names events ("a `response.created` event"), error events with their fields exactly
as received ("an `error` event with code `invalid_type` and type `invalid_request_error`,
without `status`"), and lanes ("lane `a`", "the default lane"), so that the checker, the
harness and the scenarios say the same thing the same way. Nothing here judges: a missing
field is named as missing, never called wrong, and a value is shown as it came.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "error_event",
    "error_fields",
    "event_text",
    "lane_name",
    "not_exercised",
    "not_utf8",
    "server_events",
    "server_sent",
    "unnamed_error",
    "value_text",
]

# The fields of an error event a reader acts on, in the order they are named: where each
# lives in the wrapped shape (RWS-ERR-1) and the word used for it.
_ERROR_FIELDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("error", "code"), "code"),
    (("error", "type"), "type"),
    (("status",), "status"),
)
_CUT = 60


def value_text(value: Any, limit: int = _CUT) -> str:
    """A received value as a reader sees it: a string in backticks, anything else as JSON."""
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 3] + "..."
        return f"`{text}`"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def not_utf8(data: bytes | None) -> str:
    """A text message whose bytes are not valid UTF-8, with the first bytes that are not
    (``a text message that is not valid UTF-8 (bytes ed a0 at offset 12 of 40)``)."""
    words = "a text message that is not valid UTF-8"
    if data is None:
        return words
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : min(exc.end, exc.start + 8)]
        return f"{words} (bytes {bad.hex(' ')} at offset {exc.start} of {len(data)})"
    return words


def lane_name(lane: str | None) -> str:
    """``lane `a```, or ``the default lane`` for None (no ``stream_id``)."""
    return "the default lane" if lane is None else f"lane {value_text(lane)}"


def _lookup(event: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = event
    for step in path:
        if not isinstance(node, Mapping) or step not in node:
            return False, None
        node = node[step]
    return True, node


def error_fields(event: Mapping[str, Any]) -> str:
    """The code, type and status of an error event as received, then what it lacks.

    ``"code `invalid_type`, type `invalid_request_error` and status 400"``, or
    ``"code `x`, without `error.type` and `status`"``; an event without an ``error`` object
    (the flat shape of HTTP streaming) says so and names its top-level fields instead.
    """
    body = event.get("error")
    flat = not isinstance(body, Mapping)
    present: list[str] = []
    missing: list[str] = []
    for path, word in _ERROR_FIELDS:
        if flat and path[0] == "error":
            if word == "type":
                continue  # the flat shape's top-level `type` is the event type, "error"
            path = path[1:]  # the flat shape keeps the code at the top level
        found, value = _lookup(event, path)
        name = ".".join(path)
        if not found:
            missing.append(f"`{name}`")
        elif value is None:
            present.append(f"`{name}` null")
        else:
            present.append(f"{word} {value_text(value)}")
    parts: list[str] = []
    if flat:
        parts.append(
            "no `error` object (flat shape)"
            if "error" not in event
            else f"`error` {value_text(body)} instead of an object"
        )
    if present:
        parts.append(_and(present))
    if missing:
        parts.append("without " + _and(missing))
    return ", ".join(parts)


def error_event(event: Mapping[str, Any], *, lane: bool = True) -> str:
    """An error event as received: ``an `error` event with code `x` ..., on lane `a```
    (the lane named only when the event carries a ``stream_id`` and ``lane`` is true)."""
    named = event.get("stream_id")
    where = f", on {lane_name(named)}" if lane and isinstance(named, str) else ""
    fields = error_fields(event)
    joiner = " " if fields.startswith("without") else " with "
    return f"an `error` event{joiner}{fields}{where}"


def unnamed_error(event: Mapping[str, Any]) -> str:
    """How to name an error event that has no string ``error.code`` to name it by.

    ``"(no `error` object, flat shape: top-level code `x`)"`` or ``"(without `error.code`)"``:
    the checker writes it after the word "error" where it would otherwise write the code.
    """
    body = event.get("error")
    if not isinstance(body, Mapping):
        flat = event.get("code")
        named = f": top-level code {value_text(flat)}" if flat is not None else ""
        return f"(no `error` object, flat shape{named})"
    if "code" not in body:
        return "(without `error.code`)"
    return f"(`error.code` {value_text(body['code'])}, not a string)"


def event_text(event: Mapping[str, Any] | None, raw: str | None = None) -> str:
    """One received message named by what it is: its event type, and for an error its fields.

    ``raw`` is the message text, shown (cut) when it is not a JSON object.
    """
    if event is None:
        if raw is None:
            return "a binary message"
        return f"a text message that is not a JSON object: {value_text(raw)}"
    etype = event.get("type")
    if etype == "error":
        return error_event(event)
    if not isinstance(etype, str):
        return f"a JSON object without a string `type` ({value_text(dict(event))})"
    response = event.get("response")
    rid = response.get("id") if isinstance(response, Mapping) else None
    of = f" of response {value_text(rid)}" if isinstance(rid, str) else ""
    lane = event.get("stream_id")
    where = f" on {lane_name(lane)}" if isinstance(lane, str) else ""
    return f"a `{etype}` event{of}{where}"


def server_sent(events: Iterable[Mapping[str, Any]]) -> str:
    """A one-line summary of what the server sent: runs, error events and other events.

    ``"2 runs (`response.created`) and 3 `error` events (code `invalid_type`, ...)"``, or
    ``"no event"``; used where a requirement found nothing to apply to, so that the reader
    sees what the server gave instead.
    """
    runs = 0
    errors: dict[str, int] = {}
    others: dict[str, int] = {}
    for event in events:
        etype = event.get("type")
        if etype == "response.created":
            runs += 1
        elif etype == "error":
            label = error_fields(event)
            errors[label] = errors.get(label, 0) + 1
        elif isinstance(etype, str) and not etype.startswith("response."):
            others[etype] = others.get(etype, 0) + 1
    parts: list[str] = []
    if runs:
        parts.append(f"{runs} run{'s' if runs != 1 else ''} (`response.created`)")
    for label, count in errors.items():
        parts.append(f"{count} `error` event{'s' if count != 1 else ''} with {label}")
    for etype, count in others.items():
        parts.append(f"{count} `{etype}` event{'s' if count != 1 else ''}")
    return _and(parts) if parts else "no event"


def _and(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def server_events(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The JSON objects the server sent, from transcript records (``dir`` s2c, kind text)."""
    events: list[Mapping[str, Any]] = []
    for record in records:
        if record.get("kind") != "text" or record.get("dir") != "s2c":
            continue
        try:
            parsed = json.loads(str(record.get("text", "")))
        except ValueError:
            continue
        if isinstance(parsed, Mapping):
            events.append(parsed)
    return events


def not_exercised(records: Iterable[Mapping[str, Any]]) -> str:
    """Why a declared requirement got no verdict, as what the server did not give: the check
    saw nothing the requirement applies to, and here is all the server sent."""
    return (
        "not exercised: the server sent nothing in this check that this requirement applies "
        f"to (all it sent: {server_sent(server_events(records))})"
    )
