"""One judgement of a whole transcript, shared by ``responses-ws validate`` and the client suite.

:func:`judge_transcript` runs the transcript checker (:class:`~conformance.checker.Checker`:
every message, lanes, outcomes, the cache) and, when the client role is judged, the
whole-transcript client rules (:mod:`conformance.checker.client`, ``schemas/rules/client.json``)
over the same records, and merges the two reports. The client suite's judge
(:mod:`conformance.clientsuite.judge`) adds only what a scenario knows beyond its transcript
(the task's result, the upgrade request, pings it sent); ``responses-ws validate`` judges a
recorded transcript with this function alone.

:func:`explain` says in words what a finding's records show: what the client sent and what
came back. Sans-I/O and synchronous like the rest of the checker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from conformance.checker.client import check_client_traffic, merge_reports
from conformance.checker.core import Checker, CheckerConfig, EventValidator
from conformance.checker.findings import Finding, Report
from conformance.checker.ordering import short
from conformance.requirements import Requirement, load_requirements
from conformance.transcript import Record, parse_line, parse_record
from conformance.wording import not_utf8

__all__ = ["describe", "explain", "judge_transcript", "records_of"]

# At most this many of a finding's records are described (a finding may name many).
_EXPLAINED_RECORDS = 3
_ITEMS_LISTED = 3
_OUTCOMES = frozenset({"response.created", "error"})


def records_of(raw: Iterable[Record | Mapping[str, Any] | str | bytes]) -> list[Record]:
    """The records as :class:`Record` objects, each indexed by its position when it is not one
    already (reading never raises: a bad entry becomes a malformed record)."""
    out: list[Record] = []
    for index, item in enumerate(raw):
        if isinstance(item, Record):
            out.append(item)
        elif isinstance(item, str | bytes):
            out.append(parse_line(item, index))
        else:
            out.append(parse_record(item, index))
    return out


def judge_transcript(
    records: Iterable[Record | Mapping[str, Any] | str | bytes],
    config: CheckerConfig | None = None,
    *,
    requirements: Mapping[str, Requirement] | None = None,
    validator: EventValidator | None = None,
) -> Report:
    """Every verdict a transcript alone supports, for the roles ``config`` judges."""
    config = config or CheckerConfig()
    registry = requirements if requirements is not None else load_requirements()
    recs = records_of(records)
    reports = [Checker(config, requirements=registry, validator=validator).feed_all(recs)]
    if "client" in config.roles:
        reports.append(check_client_traffic(recs, config, requirements=registry))
    return merge_reports(reports)


# --- words -------------------------------------------------------------------------------------


def _lane(stream_id: Any) -> str:
    return "the default lane" if stream_id is None else f"lane {short(stream_id, 40)}"


def _item(item: Any) -> str:
    if isinstance(item, str):
        return f"text {short(item, 40)}"
    if not isinstance(item, Mapping):
        return short(item, 40)
    kind = item.get("type") or ("message" if "role" in item else "item")
    if kind == "message":
        content = item.get("content")
        text = (
            content
            if isinstance(content, str)
            else "".join(str(p.get("text", "")) for p in content or [] if isinstance(p, Mapping))
            if isinstance(content, list)
            else ""
        )
        return f"{item.get('role', '?')} message {short(text, 40)}"
    if kind in ("function_call", "function_call_output"):
        return f"{kind} {item.get('call_id', '?')}"
    return str(kind)


def _input(value: Any) -> str:
    if value is None:
        return "no input"
    if isinstance(value, str):
        return f"input text {short(value, 40)}"
    if not isinstance(value, list):
        return f"input {short(value, 40)}"
    listed = [_item(i) for i in value[:_ITEMS_LISTED]]
    more = f" and {len(value) - _ITEMS_LISTED} more" if len(value) > _ITEMS_LISTED else ""
    noun = "item" if len(value) == 1 else "items"
    return f"{len(value)} input {noun}" + (f" ({', '.join(listed)}{more})" if listed else "")


def _create(body: Mapping[str, Any]) -> str:
    parts = []
    if "stream_id" in body:
        parts.append(_lane(body["stream_id"]))
    prev = body.get("previous_response_id")
    parts.append(
        f"previous_response_id {short(prev, 60)}" if prev is not None else "no previous_response_id"
    )
    for name in ("store", "background", "stream"):
        if name in body:
            parts.append(f"{name} {short(body[name], 20)}")
    parts.append(_input(body.get("input")))
    return "response.create with " + ", ".join(parts)


def _event(event: Mapping[str, Any]) -> str:
    etype = str(event.get("type"))
    if etype == "response.create":
        return _create(event)
    where = f" on {_lane(event['stream_id'])}" if "stream_id" in event else ""
    if etype == "error":
        error = event.get("error")
        error = error if isinstance(error, Mapping) else {}
        text = f"error {error.get('code', '(no code)')}"
        if error.get("param") is not None:
            text += f" (param {error.get('param')})"
        if "sequence_number" in event:
            text += f" carrying sequence_number {event.get('sequence_number')}"
        return text + where
    response = event.get("response")
    if isinstance(response, Mapping) and "id" in response:
        return f"{etype} of {short(response.get('id'), 60)}{where}"
    return etype + where


def describe(record: Record) -> str:
    """One record in words, e.g. ``the client sent response.create with previous_response_id
    "resp_1", store false, 1 input item (user message "next")``."""
    who = {"c2s": "the client", "s2c": "the server"}.get(record.dir or "", "")
    if record.kind == "open":
        return f"connection {record.conn} opened"
    if record.kind == "rejected":
        return f"an upgrade was refused with HTTP {record.status}"
    if record.kind == "close":
        closer = f"{who} closed" if who else "closed"
        code = f"with code {record.code}" if record.code is not None else "without a code"
        return f"{closer} connection {record.conn} {code}"
    if record.kind == "malformed":
        return f"an unreadable record ({record.problem})"
    if record.kind in ("binary", "ping", "pong"):
        size = len(record.data or b"")
        noun = "a binary message" if record.kind == "binary" else f"a {record.kind}"
        return f"{who} sent {noun} of {size} bytes"
    if not record.utf8:
        return f"{who} sent {not_utf8(record.data)}"
    text = record.text or ""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, Mapping):
        return f"{who} sent a text message that is not a JSON object ({len(text)} characters)"
    return f"{who} sent {_event(body)}"


def _where(record: Record) -> str:
    at = f", {record.ts:.3f} s" if record.ts is not None else ""
    return f"record {record.index}, {record.conn or '-'}{at}"


def _answer(later: Iterable[Record], request: Record, lane: Any) -> Record | None:
    """The server's next outcome on the request's lane of its connection (a
    ``response.created`` or an ``error``), or the connection's close, among ``later``."""
    for record in later:
        if record.conn != request.conn:
            continue
        if record.kind == "close":
            return record
        if record.kind != "text" or record.dir != "s2c":
            continue
        try:
            event = json.loads(record.text or "")
        except (ValueError, RecursionError):
            continue
        if (
            isinstance(event, Mapping)
            and event.get("type") in _OUTCOMES
            and event.get("stream_id") == lane
        ):
            return record
    return None


def _position(records: Sequence[Record], index: int) -> int | None:
    """Where the record numbered ``index`` is in ``records`` (its index, as a rule)."""
    if 0 <= index < len(records) and records[index].index == index:
        return index
    return next((p for p, r in enumerate(records) if r.index == index), None)


def explain(finding: Finding, records: Sequence[Record]) -> list[str]:
    """What the finding's records show, in words: each record (the first few), then for the
    last client request among them what the server answered on its lane."""
    positions = [_position(records, i) for i in finding.records[:_EXPLAINED_RECORDS]]
    named = [records[p] for p in positions if p is not None]
    lines = [f"{describe(r)} ({_where(r)})" for r in named]
    requests = [r for r in named if r.kind == "text" and r.dir == "c2s" and r.utf8]
    if not requests:
        return lines
    request = requests[-1]
    try:
        body = json.loads(request.text or "")
    except (ValueError, RecursionError):
        return lines
    if not isinstance(body, Mapping) or body.get("type") != "response.create":
        return lines
    position = _position(records, request.index)
    start = len(records) if position is None else position + 1
    later = (records[p] for p in range(start, len(records)))
    answer = _answer(later, request, body.get("stream_id"))
    if answer is None:
        lines.append("no answer to it is recorded")
    elif answer.index not in finding.records:
        lines.append(f"the answer: {describe(answer)} ({_where(answer)})")
    return lines
