"""The HTTP front of the reference server (sans-I/O): bytes in, h11 events parsed, actions out.

The WebSocket endpoint and the HTTP Responses API share one port (RWS-HTTP-1): clients derive
both URLs from one base URL. Every TCP connection starts here. Its first request decides:

* an upgrade, or any other ``GET`` except ``GET /v1/responses/{id}``, goes to the WebSocket
  server as it arrived (:class:`HandOff` carries the bytes read so far), which answers it as
  it always did (101, 426, 401, 404: RWS-TRANS-1/2/4);
* ``POST /v1/responses`` is one :class:`~reference_impl.http_exchange.Exchange`;
* ``GET /v1/responses/{id}`` looks a stored response up (:class:`LoadResponse`, RWS-HTTP-10);
* anything else is answered 404 or 405 with a JSON error.

HTTP/1.1 keep-alive serves the next request once an answer is complete; a request waits (the
I/O layer stops reading, :attr:`HttpConnection.wants_data`) while the one before it is
answered. Every request needs an accepted bearer key (RWS-HTTP-11), and a body is bounded by
``max-message-size`` (the size of the largest WebSocket message, RWS-TRANS-7).

The I/O layer (:mod:`reference_impl.http_front` for asyncio, :mod:`reference_impl.http_front_trio`
for trio) feeds :meth:`HttpConnection.receive_data`, performs :meth:`HttpConnection.actions` in
order - :class:`SendBytes`, :class:`HandOff`, :class:`LoadResponse`, :class:`CloseTransport`,
and the session's :class:`StartRun` and :class:`LoadStored` - and drives a run with
:meth:`HttpConnection.step` exactly as the WebSocket drivers drive a session's run.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import h11

from reference_impl.actions import LoadStored, RunStep, StartRun
from reference_impl.faults import Faults
from reference_impl.http_exchange import Exchange, ExchangeSettings, json_response
from reference_impl.limits import CostModel, Limits
from reference_impl.store import StoredResponse
from reference_impl.upgrade import PATH
from reference_impl.validation import MAX_ID_LENGTH

__all__ = [
    "CloseTransport",
    "HandOff",
    "HttpAction",
    "HttpConnection",
    "HttpSettings",
    "LoadResponse",
    "SendBytes",
    "http_settings",
]

#: ``GET /v1/responses/{id}``: the id is one path segment.
_RETRIEVE = re.compile(re.escape(PATH) + r"/(?P<id>[^/?#]+)")
#: The answer to a GET of a response that is not stored for the key (RWS-HTTP-10).
_NOT_STORED_MESSAGE = "No stored response with this id was found."
#: The largest request head (request line and headers) read before it is refused.
MAX_HEAD_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class SendBytes:
    """Write these bytes to the connection."""

    data: bytes


@dataclass(frozen=True, slots=True)
class HandOff:
    """The connection is the WebSocket server's: give it the connection and ``data``, the
    bytes read so far, to parse as if it had read them itself."""

    data: bytes


@dataclass(frozen=True, slots=True)
class LoadResponse:
    """Look up the stored response ``response_id`` of ``api_key`` (any key when None); answer
    with :meth:`HttpConnection.response_loaded`."""

    response_id: str
    api_key: str | None


@dataclass(frozen=True, slots=True)
class CloseTransport:
    """Close the connection once what was sent before has been written."""


HttpAction = SendBytes | HandOff | LoadResponse | CloseTransport | StartRun | LoadStored


@dataclass(frozen=True)
class HttpSettings:
    """What the HTTP front of one server needs."""

    api_keys: Collection[str]
    exchange: ExchangeSettings


def http_settings(
    api_keys: Collection[str], limits: Limits, cost: CostModel, faults: Faults
) -> HttpSettings:
    """The front's settings from a server's configuration (either driver's)."""
    return HttpSettings(api_keys, ExchangeSettings(limits=limits, cost=cost, faults=faults))


def _bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and key.strip():
                return key.strip()
    return None


def _route_of_line(raw: bytearray, http_off: bool) -> str | None:
    """Who reads the first request: ``websocket``, ``http`` (h11), or None (no line yet).

    Every WebSocket connection starts with a ``GET``: for those the request line alone
    decides, so that a WebSocket costs no second parse of its head (h11's would double what
    websockets spends on it). This reads no header and answers nothing: anything but a plain
    ``GET <target> HTTP/1.x`` line goes to h11, whose parse decides by :func:`_hands_off`.
    """
    end = raw.find(b"\r\n")
    if end == -1:
        return None if len(raw) < MAX_HEAD_SIZE else "http"
    if http_off:
        return "websocket"  # the http-off fault: the WebSocket server answers everything
    method, _, rest = bytes(raw[:end]).partition(b" ")
    target, _, version = rest.partition(b" ")
    if method != b"GET" or not version.startswith(b"HTTP/1.") or not target.startswith(b"/"):
        return "http"
    path = target.decode("latin-1").partition("?")[0]
    return "http" if _RETRIEVE.fullmatch(path) else "websocket"


def _hands_off(request: h11.Request) -> bool:
    """Whether the WebSocket server answers this (first) request."""
    if request.method != b"GET":
        return False
    upgrade = any(
        name == b"upgrade" and b"websocket" in value.lower() for name, value in request.headers
    )
    path = request.target.decode("latin-1").partition("?")[0]
    return upgrade or not _RETRIEVE.fullmatch(path)


class HttpConnection:
    """One TCP connection of the front (see the module docstring)."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self.faults = settings.exchange.faults
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_SIZE)
        self._actions: list[HttpAction] = []
        # Until the first request is known, every byte read: a hand-off replays them.
        self._raw: bytearray | None = bytearray()
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._exchange: Exchange | None = None
        self._busy = False  # a request is being answered
        self._closed = False
        self._sniffing = True  # the first request line has not been read yet

    # --- inputs ------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the client; ``b""`` when it closed its side."""
        if self._closed:
            return
        if self._raw is not None:
            self._raw += data
            if self._sniffing:
                # Nothing is given to h11 until the request line says who parses the request.
                route = _route_of_line(self._raw, self.faults.active("http-off"))
                if route is None:
                    return  # the request line is not complete yet
                self._sniffing = False
                if route == "websocket":
                    self._hand_off()
                    return
                data = bytes(self._raw)
        self._h11.receive_data(data)
        self._process(now)

    def step(self, run_id: int, now: float) -> RunStep:
        """Step the run of the current exchange (see :meth:`Exchange.step`)."""
        assert self._exchange is not None
        step = self._exchange.step(run_id, now)
        self._after_exchange(now)
        return step

    def stored_loaded(self, ticket: int, record: StoredResponse | None, now: float) -> None:
        """Answer a :class:`LoadStored` of the current exchange."""
        if self._exchange is None:
            return
        self._exchange.stored_loaded(ticket, record, now)
        self._after_exchange(now)

    def persist_failed(self, run_id: int, now: float) -> None:
        """The save of the current exchange's run failed."""
        assert self._exchange is not None
        self._exchange.persist_failed(run_id)
        self._after_exchange(now)

    def run_cancelled(self, run_id: int) -> str | None:
        """A run's task ended early; returns a response id to delete (RWS-LIMIT-10)."""
        return None if self._exchange is None else self._exchange.run_cancelled(run_id)

    def response_loaded(self, record: StoredResponse | None, now: float) -> None:
        """Answer a :class:`LoadResponse` (RWS-HTTP-10)."""
        if record is None:
            self._send(json_response(404, _not_found_body(_NOT_STORED_MESSAGE)))
        else:
            self._send(json_response(200, dict(record.response)))
        self._end_request(now)

    # --- outputs ----------------------------------------------------------------------------

    def actions(self) -> list[HttpAction]:
        """Return and forget the actions to perform, in order."""
        actions, self._actions = self._actions, []
        return actions

    @property
    def wants_data(self) -> bool:
        """Whether the I/O layer should read: no request is being answered."""
        return not self._busy and not self._closed

    @property
    def closed(self) -> bool:
        """Whether the front is done with the connection (closed or handed off)."""
        return self._closed

    # --- private: requests ---------------------------------------------------------------------

    def _process(self, now: float) -> None:
        while not self._busy and not self._closed:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(exc.error_status_hint, "The request is not valid HTTP/1.1.")
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.ConnectionClosed):
                self._close()
                return
            if isinstance(event, h11.Request):
                if self._raw is not None and _hands_off(event):
                    self._hand_off()
                    return
                self._raw = None
                self._request = event
                self._body.clear()
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self.settings.exchange.limits.max_message_size:
                    # Bounded like a WebSocket message (RWS-TRANS-7): the rest is not read.
                    self._refuse(413, "The request body is too large.")
                    return
            elif isinstance(event, h11.EndOfMessage):
                self._busy = True
                self._dispatch(now)

    def _hand_off(self) -> None:
        # RWS-TRANS-1/4: the WebSocket server answers the request, from its first byte.
        assert self._raw is not None
        self._actions.append(HandOff(bytes(self._raw)))
        self._closed = True

    def _dispatch(self, now: float) -> None:
        request = self._request
        assert request is not None
        path = request.target.decode("latin-1").partition("?")[0]
        retrieve = _RETRIEVE.fullmatch(path)
        if path != PATH and retrieve is None:
            self._answer(404, _not_found_body(f"No route for {request.method.decode()}."), now)
            return
        if retrieve is None and request.method == b"GET":
            # RWS-TRANS-4: a WebSocket starts a connection of its own; this one has served
            # HTTP requests already, so it is not upgraded.
            body = _error("invalid_request_error", "Upgrade Required.")
            self._send(json_response(426, body, extra=(("upgrade", "websocket"),)))
            self._end_request(now)
            return
        allowed = b"POST" if retrieve is None else b"GET"
        if request.method != allowed:
            self._answer(405, _error("invalid_request_error", "Method not allowed."), now)
            return
        key = _bearer(request.headers)
        if (key is None or key not in self.settings.api_keys) and not self.faults.active(
            "http-no-auth"
        ):
            # RWS-HTTP-11 (as RWS-TRANS-2 for the upgrade): no run without accepted credentials.
            body = _error("invalid_request_error", "Invalid API key.", code="invalid_api_key")
            self._answer(401, body, now)
            return
        api_key = key or ""
        if retrieve is not None:
            response_id = retrieve.group("id")
            if len(response_id) > MAX_ID_LENGTH:
                self._answer(404, _not_found_body(_NOT_STORED_MESSAGE), now)
                return
            # RWS-HTTP-10, RWS-LIMIT-5: only a response stored by this key; the
            # http-get-any-key fault finds those of every key.
            owner = None if self.faults.active("http-get-any-key") else api_key
            self._actions.append(LoadResponse(response_id, owner))
            return
        exchange = Exchange(self.settings.exchange, api_key, now)
        self._exchange = exchange
        exchange.start(bytes(self._body), now)
        self._after_exchange(now)

    def _after_exchange(self, now: float) -> None:
        exchange = self._exchange
        if exchange is None:
            return
        self._send(exchange.events())
        self._actions.extend(exchange.session_actions())
        if exchange.finished:
            self._exchange = None
            if exchange.close_after:
                self._close()
            else:
                self._end_request(now)

    def _answer(self, status: int, body: dict[str, Any], now: float) -> None:
        self._send(json_response(status, body))
        self._end_request(now)

    def _end_request(self, now: float) -> None:
        """The answer is complete: on to the next request, or close."""
        self._busy = False
        if self._closed:
            return
        if self._h11.our_state is h11.MUST_CLOSE or self._h11.their_state is h11.MUST_CLOSE:
            self._close()
            return
        if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
            # The answer went out before the whole request was read: nothing more is read.
            self._close()
            return
        self._h11.start_next_cycle()
        self._process(now)  # a request already read (pipelined) is answered now

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request that cannot be read, then close."""
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._send(json_response(status, _error("invalid_request_error", message), close=True))
        self._close()

    def _send(self, events: list[h11.Event]) -> None:
        data = b"".join(self._h11.send(event) or b"" for event in events)
        if data:
            self._actions.append(SendBytes(data))

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._actions.append(CloseTransport())


def _error(kind: str, message: str, *, code: str | None = None) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": message, "param": None}}


def _not_found_body(message: str) -> dict[str, Any]:
    return _error("invalid_request_error", message, code="not_found")
