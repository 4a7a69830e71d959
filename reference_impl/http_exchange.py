"""One ``POST /v1/responses`` of the HTTP transport, as a run of the WebSocket session.

RWS-HTTP-2 defines an HTTP request by one equivalence: it is answered as the only request of a
new WebSocket connection to a server without lanes and steering would be. So an exchange is
exactly that: a fresh :class:`~reference_impl.session.Session` (``multiplex=False``,
``steering=False``, no connection limits), fed the request body as a ``response.create``,
whose output is then framed for HTTP instead of WebSocket:

* the run's events become server-sent events (RWS-HTTP-3, ``event`` naming each ``type``,
  RWS-HTTP-4/5), or, without ``stream: true``, the terminal event's ``response`` becomes the
  JSON body (RWS-HTTP-9);
* an ``error`` outcome becomes an HTTP error response with the error's status and the error
  object as ``{"error": ...}`` (RWS-HTTP-8);
* nothing is cached beyond the exchange, so a ``previous_response_id`` is hydrated from storage
  or not found (RWS-CACHE-3/4): the session's :class:`LoadStored` goes to the I/O layer as on
  WebSocket.

No I/O here: :mod:`reference_impl.http_routes` owns the HTTP connection and asks this module
for the bytes of each answer.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
import orjson

from reference_impl.actions import (
    CloseConnection,
    LoadStored,
    RunDone,
    RunStep,
    SendText,
    StartRun,
)
from reference_impl.cache import ResponseCache
from reference_impl.errors import ProtocolError, RequestError, code_info
from reference_impl.faults import Faults
from reference_impl.limits import CostModel, Limits
from reference_impl.session import Session
from reference_impl.session_state import new_id
from reference_impl.store import StoredResponse
from reference_impl.validation import DeepInputError, read_message

__all__ = [
    "Exchange",
    "ExchangeSettings",
    "error_body",
    "json_response",
    "sse_event",
]

#: The terminal events of a run (RWS-ORDER-2).
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


@dataclass(frozen=True)
class ExchangeSettings:
    """What every exchange of one server shares."""

    limits: Limits
    cost: CostModel
    faults: Faults
    # One cache for every HTTP request: only the http-keeps-cache fault uses it (RWS-HTTP-2).
    shared_cache: ResponseCache = field(default_factory=ResponseCache)
    ids: Callable[[str], str] = new_id
    wall_clock: Callable[[], float] = time.time


def json_response(
    status: int, body: Any, *, close: bool = False, extra: tuple[tuple[str, str], ...] = ()
) -> list[h11.Event]:
    """A complete JSON answer: head (with ``extra`` headers), body and end."""
    data = orjson.dumps(body)
    headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
    headers += extra
    if close:
        headers.append(("connection", "close"))
    return [h11.Response(status_code=status, headers=headers), h11.Data(data), h11.EndOfMessage()]


def error_body(error: ProtocolError) -> dict[str, Any]:
    """RWS-HTTP-8: the body of an HTTP error: the error object the error event would wrap."""
    info = code_info(error.code)
    return {
        "error": {
            "type": info.type,
            "code": error.code,
            "message": error.message,
            "param": error.param,
        }
    }


def sse_event(event_type: str | None, text: str) -> bytes:
    """One server-sent event (RWS-HTTP-3): ``event`` (when given) and the JSON on one line."""
    # The server's JSON text holds no line break (strings escape theirs), so one data line.
    if event_type is None:
        return b"data: " + text.encode() + b"\n\n"
    return b"event: " + event_type.encode() + b"\ndata: " + text.encode() + b"\n\n"


class _RequestSession(Session):
    """A session that takes its one request as an already parsed ``response.create``."""

    def receive_request(self, event: dict[str, Any], now: float, *, bounded: bool) -> None:
        """The HTTP twin of :meth:`Session.receive_text` for a parsed ``response.create``
        (``bounded`` as :func:`~reference_impl.validation.read_message` says)."""
        self._last_activity = now
        try:
            self._receive_create(event, now, bounded=bounded)
        except DeepInputError:
            raise  # the crash-on-deep-input fault: deliberately unhandled, as on WebSocket
        except Exception:
            # RWS-LIMIT-6, RWS-ERR-5: a failure of ours is a server_error, with no details.
            self._reject_now(
                RequestError("server_error", "The server failed to process the request."),
                stream_id=None,
            )


class Exchange:
    """One ``POST /v1/responses``: a one-request session and the HTTP answer it becomes.

    The owner feeds the body (:meth:`start`), then drives the session as the WebSocket drivers
    do - :meth:`step`, :meth:`stored_loaded`, :meth:`persist_failed`, :meth:`run_cancelled` -
    and after every call takes :meth:`events` (h11 events to send) and :meth:`session_actions`
    (:class:`StartRun` and :class:`LoadStored` to perform). :attr:`finished` says when the
    answer is complete; :attr:`close_after` when the connection must close after it.
    """

    def __init__(self, settings: ExchangeSettings, api_key: str, now: float) -> None:
        self.settings = settings
        self.faults = settings.faults
        # RWS-HTTP-2: a new connection without lanes and steering, and without the limits
        # of a connection (its age and idle time): the request ends with its answer.
        limits = dataclasses.replace(
            settings.limits, max_connection_age=float("inf"), idle_timeout=None
        )
        self.session = _RequestSession(
            api_key=api_key,
            now=now,
            limits=limits,
            faults=settings.faults,
            cost=settings.cost,
            # RWS-HTTP-2: a new connection has an empty cache; the http-keeps-cache fault
            # gives every request the same one, so store:false responses become continuable.
            cache=settings.shared_cache if self.faults.active("http-keeps-cache") else None,
            ids=settings.ids,
            wall_clock=settings.wall_clock,
            multiplex=False,
            steering=False,
        )
        self.stream = False
        self.finished = False
        self.close_after = False
        self._events: list[h11.Event] = []
        self._pending: list[StartRun | LoadStored] = []
        self._started = False  # the head of a streamed answer was sent
        self._created: dict[str, Any] | None = None  # response.created's response object
        self._terminal: dict[str, Any] | None = None  # the last terminal event's response
        self._loading = 0  # storage lookups asked for and not answered yet

    # --- inputs ------------------------------------------------------------------------------

    def start(self, body: bytes, now: float) -> None:
        """Read the request body and hand it to the session as a ``response.create``."""
        try:
            event, bounded = read_message(_as_create(body))
        except ProtocolError as exc:
            self._fail(exc)
            return
        stream = event.get("stream")
        if stream is not None and not isinstance(stream, bool):
            self._fail(
                RequestError(
                    "invalid_type", "Invalid type for 'stream': expected a boolean.", param="stream"
                )
            )
            return
        self.stream = stream is True
        # RWS-HTTP-1: the body is a response.create without its type; the session sees it
        # streamed, whatever the body said: the answer is framed here, not by the session.
        event["stream"] = True
        self.session.receive_request(event, now, bounded=bounded)
        self._take()
        self._end_if_idle()

    def step(self, run_id: int, now: float) -> RunStep:
        """Step the run (as :meth:`Session.step`); a run that is done ends the answer."""
        step = self.session.step(run_id, now)
        self._take()
        if isinstance(step, RunDone) and self.session.runs_in_flight == 0:
            self._finish()
        return step

    def stored_loaded(self, ticket: int, record: StoredResponse | None, now: float) -> None:
        """Answer the session's :class:`LoadStored` (the hydration of RWS-CACHE-3)."""
        self._loading -= 1
        self.session.stored_loaded(ticket, record, now)
        self._take()
        self._end_if_idle()

    def persist_failed(self, run_id: int) -> None:
        """The save of a run failed (as :meth:`Session.persist_failed`)."""
        self.session.persist_failed(run_id)
        self._take()

    def run_cancelled(self, run_id: int) -> str | None:
        """The run's task ended early (as :meth:`Session.run_cancelled`)."""
        return self.session.run_cancelled(run_id)

    # --- outputs ----------------------------------------------------------------------------

    def events(self) -> list[h11.Event]:
        """Return and forget the h11 events to send, in order."""
        events, self._events = self._events, []
        return events

    def session_actions(self) -> list[StartRun | LoadStored]:
        """Return and forget the runs to start and the lookups to make."""
        pending, self._pending = self._pending, []
        return pending

    # --- private -------------------------------------------------------------------------

    def _take(self) -> None:
        """Turn what the session asked for into HTTP events and pending actions."""
        for action in self.session.actions():
            match action:
                case SendText(text):
                    self._send(text)
                case StartRun() | LoadStored():
                    if isinstance(action, LoadStored):
                        self._loading += 1
                    self._pending.append(action)
                case CloseConnection():
                    # The session gave up on its connection (a fault closing after an error,
                    # or 1011): the answer ends here and so does the HTTP connection.
                    self.close_after = True
                    self._finish()

    def _end_if_idle(self) -> None:
        """The outcome was an error (no run, no lookup left): the answer is complete."""
        if not self._loading and not self.session.runs_in_flight:
            self._finish()

    def _send(self, text: str) -> None:
        if self.finished:
            return
        try:
            event: Any = orjson.loads(text)
        except orjson.JSONDecodeError:
            event = None  # a fault split the event in two: sent as it is
        kind = event.get("type") if isinstance(event, dict) else None
        if not self._started and kind == "error" and not self.faults.active("http-error-in-stream"):
            # RWS-HTTP-8: the outcome is an error, answered as an HTTP error.
            assert isinstance(event, dict)
            self._answer_error(event)
            return
        if not self.stream:
            if kind == "response.created" and isinstance(event, dict):
                self._created = event.get("response")
            elif kind in TERMINAL and isinstance(event, dict):
                self._terminal = event.get("response")
            return
        if not self._started:
            self._started = True
            content_type = (
                "application/json"  # Fault: RWS-HTTP-3, a stream is text/event-stream.
                if self.faults.active("sse-content-type-json")
                else "text/event-stream"
            )
            headers = [("content-type", content_type), ("cache-control", "no-cache")]
            self._events.append(h11.Response(status_code=200, headers=headers))
        name: str | None = kind if isinstance(kind, str) else None
        if self.faults.active("sse-no-event-field"):
            name = None  # Fault: RWS-HTTP-4 recommends the event field.
        elif self.faults.active("sse-event-mismatch"):
            name = "message"  # Fault: RWS-HTTP-5, the event field is the data's type.
        self._events.append(h11.Data(sse_event(name, text)))

    def _answer_error(self, event: dict[str, Any]) -> None:
        status = event.get("status")
        error = event.get("error")
        if not isinstance(error, dict):
            # The flat-error fault: the error's members are at the top level.
            error = {k: v for k, v in event.items() if k in ("code", "message", "param")}
        self._events.extend(
            json_response(status if isinstance(status, int) else 500, {"error": error})
        )
        self.finished = True

    def _fail(self, error: ProtocolError) -> None:
        self._events.extend(json_response(code_info(error.code).status, error_body(error)))
        self.finished = True

    def _finish(self) -> None:
        if self.finished:
            return
        if self.stream and self._started:
            if self.faults.active("sse-open-after-terminal"):
                # Fault: RWS-HTTP-7, the body is left open; only the client ends it.
                self.finished = True
                self.close_after = True
                return
            self._events.append(h11.EndOfMessage())
        elif not self.stream:
            self._answer_response()
        else:
            # No event at all (a fault dropped them): a failure of ours.
            self._fail(RequestError("server_error", "The server failed to process the request."))
        self.finished = True

    def _answer_response(self) -> None:
        # RWS-HTTP-9: the terminal event's response object; the http-nonstream-created fault
        # answers with response.created's (in progress) instead.
        body = self._created if self.faults.active("http-nonstream-created") else self._terminal
        if body is None:
            # The run never sent its terminal event (a fault dropped it): a failure of ours.
            self._fail(RequestError("server_error", "The server failed to process the request."))
            return
        self._events.extend(json_response(200, body))


def _as_create(body: bytes) -> str:
    """The body as the text of a ``response.create``: its ``type`` added as the last member.

    A member added last wins over one of the same name (as with every JSON parser the server
    uses), so a body that says ``"type": "response.steer"`` is still a ``response.create``.
    Text that is not an object is left as it is, for the parser to refuse.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise ProtocolError("invalid_json", "The request body is not UTF-8 text.") from None
    stripped = text.rstrip()
    if not stripped.endswith("}"):
        raise ProtocolError("invalid_json", "The request body is not a JSON object.")
    inside = stripped[:-1].rstrip()
    separator = "" if inside.endswith("{") else ","
    return f'{inside}{separator}"type":"response.create"}}'
