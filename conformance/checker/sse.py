"""The HTTP transport in transcripts: server-sent events in, server events out (spec §13).

Over HTTP an answer is not a WebSocket message, so the checker sees it through an adapter.
RWS-HTTP-2 makes one HTTP request the only request of a new WebSocket connection; a recorder
(the suite's HTTP transport, ``responses-ws validate`` for a recorded stream) therefore writes
each exchange as one transcript connection: an ``open`` record carrying ``http`` (the method,
target and answer), the request as a ``response.create`` text record, then the answer, then a
``close`` by the server when the body ends. Each record of the answer carries ``http``:

* ``{"sse": <the event field or null>}`` - one server-sent event, whose ``text`` is its data;
* ``{"status": <status>, "body": <the JSON body>}`` - an error answer, whose ``text`` is the
  ``error`` event the same outcome is over WebSocket (RWS-HTTP-8).

This module judges only what is HTTP's own - the framing (RWS-HTTP-3 to RWS-HTTP-8) - and hands
every event on to the checker's rules unchanged, so no rule of a run is stated twice. It also
holds the incremental decoder of ``text/event-stream`` (the HTML Living Standard's parsing
rules) that recorders use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.checker.findings import Recorder
from conformance.checker.ordering import short
from conformance.checker.rules import ErrorCode
from conformance.transcript import Record

__all__ = ["DONE", "TERMINAL", "HttpFraming", "SseDecoder", "SseEvent"]

#: The data of the end-of-stream marker some servers send (RWS-HTTP-6).
DONE = "[DONE]"
#: The terminal events of a run (RWS-ORDER-2).
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
#: The most bytes of one event's lines the decoder holds: a bound, far above any event.
MAX_EVENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched server-sent event: its ``event`` field (None when absent) and data."""

    event: str | None
    data: str
    id: str | None = None


class SseDecoder:
    """Bytes of a ``text/event-stream`` body in, :class:`SseEvent` out (incremental).

    Lines end with CRLF, LF or CR; a line starting with ``:`` is a comment; ``field: value``
    loses one space after the colon; ``data`` lines join with LF; a blank line dispatches the
    event, unless it had no field at all. Invalid UTF-8 is replaced, as the standard says.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._fields = False
        self._held = 0  # characters of the event's lines so far (bounded)

    def feed(self, data: bytes) -> list[SseEvent]:
        """Decode ``data``; return the events it completes."""
        self._buffer += data
        out: list[SseEvent] = []
        while True:
            line, ending, rest = _split_line(self._buffer)
            if ending is None:
                break
            self._buffer = rest
            self._line(line.decode("utf-8", "replace"), out)
        if len(self._buffer) + self._held > MAX_EVENT_BYTES:
            raise ValueError("a server-sent event is larger than the decoder's bound")
        return out

    def finish(self) -> list[SseEvent]:
        """The body ended: an event without its blank line is not dispatched (the standard)."""
        self._buffer = b""
        self._reset()
        return []

    def _line(self, line: str, out: list[SseEvent]) -> None:
        if not line:
            if self._fields:
                out.append(SseEvent(self._event, "\n".join(self._data), self._id))
            self._reset()
            return
        if line.startswith(":"):
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._fields = True
        self._held += len(line)
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value

    def _reset(self) -> None:
        self._event = None
        self._data = []
        self._fields = False
        self._held = 0


def _split_line(buffer: bytes) -> tuple[bytes, bytes | None, bytes]:
    """The first line of ``buffer``, its ending (None: incomplete) and the rest."""
    cr = buffer.find(b"\r")
    lf = buffer.find(b"\n")
    if lf != -1 and (cr == -1 or lf < cr):
        return buffer[:lf], b"\n", buffer[lf + 1 :]
    if cr == -1 or cr == len(buffer) - 1:
        # A CR at the very end may be the first half of a CRLF: wait for the next byte.
        return buffer, None, b""
    if buffer[cr + 1 : cr + 2] == b"\n":
        return buffer[:cr], b"\r\n", buffer[cr + 2 :]
    return buffer[:cr], b"\r", buffer[cr + 1 :]


@dataclass
class _Exchange:
    """What the framing layer knows of one HTTP exchange (one transcript connection)."""

    streamed_ok: bool | None = None  # the answer's status and content type, once judged
    run_started: bool = False
    terminal_at: int | None = None
    done_at: int | None = None


class HttpFraming:
    """The checker's HTTP layer: judges the framing of each record, returns what to check."""

    def __init__(self, recorder: Recorder, errors: Callable[[str], ErrorCode | None]) -> None:
        self.recorder = recorder
        self.errors = errors
        self.exchanges: dict[str, _Exchange] = {}
        self.heads: dict[str, tuple[int | None, str]] = {}

    def opened(self, record: Record) -> None:
        """An exchange's ``open`` record: its status and content type."""
        self.exchanges[record.conn] = _Exchange()
        content_type = record.headers.get("content-type", "")
        self.heads[record.conn] = (record.status, content_type.split(";")[0].strip().lower())

    def server_record(self, record: Record) -> str | None:
        """Judge one answer record; return the text of the server event it carries, or None."""
        http = record.extra.get("http")
        exchange = self.exchanges.setdefault(record.conn, _Exchange())
        if isinstance(http, Mapping) and "sse" in http:
            return self._sse(record, http.get("sse"), exchange)
        if isinstance(http, Mapping) and "status" in http:
            self._error_answer(record, http)
        return record.text or ""

    # --- private -------------------------------------------------------------------------

    def _sse(self, record: Record, name: Any, exchange: _Exchange) -> str | None:
        index = record.index
        conn = record.conn
        data = record.text or ""
        if exchange.streamed_ok is None:
            self._head(conn, index, exchange)
        if exchange.done_at is not None:
            # RWS-HTTP-7: nothing after the [DONE] event; the body ends.
            self._fail(
                ("RWS-HTTP-7",),
                "expected the body to end after `[DONE]` / actual "
                f"another event: {short(data, 60)}",
                conn,
                (exchange.done_at, index),
            )
            return None
        if data == DONE:
            # RWS-HTTP-6: permitted after the run's terminal event only.
            self.recorder.exercise1("RWS-HTTP-6")
            exchange.done_at = index
            if exchange.terminal_at is None:
                self.recorder.exercise1("RWS-HTTP-3")
                self._fail(
                    ("RWS-HTTP-3",),
                    "expected the data of every server-sent event before the terminal event to "
                    "be one JSON object / actual `[DONE]`",
                    conn,
                    (index,),
                )
            return None
        self.recorder.exercise1("RWS-HTTP-3")
        event = _json_object(data)
        if event is None:
            self._fail(
                ("RWS-HTTP-3",),
                f"expected the data of a server-sent event to be one JSON object on one line / "
                f"actual {short(data, 60)}",
                conn,
                (index,),
            )
            return None
        etype = event.get("type")
        self.recorder.exercise1("RWS-HTTP-4")
        if name is None:
            self._fail(
                ("RWS-HTTP-4",),
                f"expected an `event` field naming {short(etype)} / actual none",
                conn,
                (index,),
            )
        else:
            self.recorder.exercise1("RWS-HTTP-5")
            if name != etype:
                self._fail(
                    ("RWS-HTTP-5",),
                    f"expected the `event` field to be the data's type {short(etype)} / actual "
                    f"{short(name)}",
                    conn,
                    (index,),
                )
        if etype == "response.created":
            exchange.run_started = True
        elif etype in TERMINAL:
            exchange.terminal_at = index
        elif etype == "error" and not exchange.run_started:
            # RWS-HTTP-8: an outcome that is an error is an HTTP error, not a stream.
            self.recorder.exercise1("RWS-HTTP-8")
            self._fail(
                ("RWS-HTTP-8",),
                "expected a request error as an HTTP error answer with a JSON body / actual an "
                "`error` event in a stream of server-sent events",
                conn,
                (index,),
            )
        if etype == "error" and "error" not in event:
            return self._wrapped(event)
        return data

    def _head(self, conn: str, index: int, exchange: _Exchange) -> None:
        # RWS-HTTP-3: a streamed answer is 200 text/event-stream.
        status, content_type = self.heads.get(conn, (None, ""))
        exchange.streamed_ok = status == 200 and content_type == "text/event-stream"
        if not exchange.streamed_ok:
            self._fail(
                ("RWS-HTTP-3",),
                f"expected a stream of server-sent events to be answered 200 text/event-stream / "
                f"actual {status} {content_type or '(no content type)'}",
                conn,
                (index,),
            )

    def _error_answer(self, record: Record, http: Mapping[str, Any]) -> None:
        # RWS-HTTP-8: the body wraps the error object; the status is the error's.
        self.recorder.exercise1("RWS-HTTP-8")
        body = http.get("body")
        problem = None
        if not isinstance(body, Mapping) or not isinstance(body.get("error"), Mapping):
            problem = f"the body {short(json.dumps(body), 60)}"
        else:
            _, content_type = self.heads.get(record.conn, (None, ""))
            if content_type != "application/json":
                problem = f"the content type {content_type or '(none)'}"
        if problem is not None:
            self._fail(
                ("RWS-HTTP-8",),
                'expected a request error answered with a JSON body {"error": {...}} / actual '
                + problem,
                record.conn,
                (record.index,),
            )

    def _wrapped(self, event: Mapping[str, Any]) -> str:
        """The flat ``error`` event of an HTTP stream as the WebSocket event it stands for."""
        code = event.get("code")
        row = self.errors(code) if isinstance(code, str) else None
        wrapped: dict[str, Any] = {
            "type": "error",
            "status": row.status if row is not None and row.status is not None else 500,
            "error": {k: event[k] for k in ("type", "code", "message", "param") if k in event},
        }
        if row is not None and row.type is not None:
            wrapped["error"]["type"] = row.type
        else:
            wrapped["error"].pop("type", None)
        for key in ("sequence_number", "stream_id"):
            if key in event:
                wrapped[key] = event[key]
        return json.dumps(wrapped, separators=(",", ":"))

    def _fail(
        self, requirements: tuple[str, ...], message: str, conn: str, records: Iterable[int]
    ) -> None:
        self.recorder.exercise(requirements)
        self.recorder.report(requirements, message, conn, records)


def _json_object(data: str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
