"""The suite's HTTP transport: ``responses-ws check --transport http`` (spec section 13).

RWS-HTTP-2 answers an HTTP request as the only request of a new WebSocket connection. So the
suite runs its transport-independent checks over HTTP by giving each scenario a connection
that sends every ``response.create`` as one ``POST /v1/responses`` (``stream: true``), one at
a time, on one keep-alive HTTP connection, and hands the scenario the events of each answer as
if they had come over one WebSocket. The transcript keeps what happened on the wire: each
exchange is a transcript connection of its own (``open`` with ``http``, the request, one record
per server-sent event, the server's ``close`` when the body ends), so the checker judges each
as the WebSocket connection it stands for, plus the framing of server-sent events
(:mod:`conformance.checker.sse`).

:func:`websocket_only` says which checks cannot run this way, and why; :func:`exchange` is the
single HTTP exchange the checks of profile ``http`` make themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import h11
import trio

from conformance.checker.sse import SseDecoder, SseEvent
from conformance.harness.wire import Connection, ConnectionClosedError, Message, Recorder, Rejected

if TYPE_CHECKING:
    from conformance.harness.registry import Scenario

__all__ = [
    "HTTP_CHECKS",
    "Answer",
    "HttpClient",
    "HttpConnection",
    "exchange",
    "http_url",
    "open_http_connection",
    "websocket_only",
]

#: The checks that hold over either transport: their requests are plain ``response.create``
#: events, one outcome at a time on the default lane, and what they judge is a run's events,
#: a request error or storage - never the connection itself (its cache, lanes, steering,
#: limits, frames or handshake: spec 13.6). stream.function-call and create.invalid-request are
#: not: each continues a store:false response from the connection cache.
HTTP_CHECKS = frozenset(
    {
        "stream.text",
        "stream.incomplete",
        "stream.any-model-run",
        "stream.response-ids-unique",
        "stream.large-event",
        "stream.refusal",
        "stream.reasoning",
        "stream.multi-item",
        "stream.failed",
        "stream.custom-tool-call",
        "stream.mcp-call",
        "stream.code-interpreter-call",
        "stream.annotations",
        "create.unknown-field-ignored",
        "create.model-per-request",
        "cache.unknown-previous-response",
        "cache.store-false-miss-on-other-connection",
        "cache.store-true-hydrated-after-reconnect",
        "cache.store-absent-hydrated-after-reconnect",
        "cache.other-api-key-not-found",
    }
)

_HEAD_LIMIT = 64 * 1024
_READ = 64 * 1024

#: Called with each answer record, its text and its event (what the scenario receives).
OnEvent = Callable[[Mapping[str, Any], str, Mapping[str, Any]], None]


def websocket_only(scenario: Scenario) -> str | None:
    """Why ``scenario`` does not run over HTTP (None when it does)."""
    if scenario.id in HTTP_CHECKS or scenario.profile == "http":
        return None
    return "WebSocket mode only: it needs the connection itself (spec 13.6)"


def http_url(ws_url: str) -> str:
    """The HTTP endpoint on the base URL of a WebSocket endpoint (RWS-HTTP-1)."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def _fingerprint(api_key: str | None) -> str | None:
    # As the WebSocket transport records it (RWS-LIMIT-5 compares principals).
    if api_key is None:
        return None
    return "key-sha256:" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


@dataclass
class Answer:
    """What one exchange got: status, headers, and the body or the server-sent events."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # the parsed JSON body of an answer that is not a stream
    events: list[Mapping[str, Any]] = field(default_factory=list)
    sse: list[tuple[str | None, str]] = field(default_factory=list)
    ended: bool = False  # the body ended (within the timeout after the terminal event)
    error: str | None = None  # why the exchange failed (could not connect, bad HTTP)


class HttpClient:
    """One keep-alive HTTP/1.1 connection (h11 over trio), reopened when the server closes."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise NotImplementedError("the HTTP transport of the suite speaks plain http only")
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 80
        self.netloc = parts.netloc
        self.stream: trio.SocketStream | None = None
        self.h11: h11.Connection | None = None

    async def send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        if self.h11 is not None and self.h11.our_state is h11.DONE:
            try:
                self.h11.start_next_cycle()
            except h11.LocalProtocolError:
                await self.aclose()
        if self.stream is None or self.h11 is None or self.h11.our_state is not h11.IDLE:
            await self.aclose()
            self.stream = await trio.open_tcp_stream(self.host, self.port)
            self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_HEAD_LIMIT)
        all_headers = [("host", self.netloc), *headers]
        if body or method != "GET":
            all_headers.append(("content-length", str(len(body))))
        data = self.h11.send(h11.Request(method=method, target=target, headers=all_headers)) or b""
        if body:
            data += self.h11.send(h11.Data(data=body)) or b""
        data += self.h11.send(h11.EndOfMessage()) or b""
        await self.stream.send_all(data)

    async def events(self) -> AsyncIterator[h11.Event]:
        """The answer's h11 events up to its end (or the connection's)."""
        assert self.h11 is not None
        assert self.stream is not None
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.stream.receive_some(_READ))
                continue
            assert not isinstance(event, type)  # PAUSED cannot happen to a client reading
            yield event
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()
        self.stream = None
        self.h11 = None


async def exchange(
    recorder: Recorder,
    client: HttpClient,
    url: str,
    method: str,
    target: str,
    *,
    api_key: str | None,
    body: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
    timeout: float,  # noqa: ASYNC109 - the suite's "must happen within" value, per wait
    on_event: OnEvent | None = None,
) -> Answer:
    """One recorded exchange (see the module docstring); ``event``: the request as the
    ``response.create`` it stands for, recorded as the client's message of a streamed POST."""
    name = recorder.new_connection_name()
    http: dict[str, Any] = {"method": method, "target": target}
    streamed = bool(body and body.get("stream") is True)
    if body is not None and not streamed:
        http["request"] = dict(body)
    opened = recorder.add(name, "open", url=url, principal=_fingerprint(api_key), http=http)
    if streamed and event is not None:
        recorder.add(name, "text", dir="c2s", text=json.dumps(event, separators=(",", ":")))
    headers = [("content-type", "application/json")] if body is not None else []
    if api_key is not None:
        headers.append(("authorization", f"Bearer {api_key}"))
    data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
    answer = Answer()
    terminal_seen = False
    try:
        with trio.fail_after(timeout):
            await client.send(method, target, headers, data)
        decoder: SseDecoder | None = None
        raw = bytearray()
        with trio.move_on_after(timeout) as scope:
            async for item in client.events():
                if isinstance(item, h11.Response):
                    answer.status = item.status_code
                    answer.headers = {k.decode(): v.decode() for k, v in item.headers}
                    opened["status"] = answer.status
                    opened["headers"] = dict(answer.headers)
                    content_type = answer.headers.get("content-type", "")
                    if content_type.split(";")[0].strip() == "text/event-stream" or (
                        streamed and answer.status == 200
                    ):
                        decoder = SseDecoder()
                elif isinstance(item, h11.Data):
                    if decoder is None:
                        raw += item.data
                        continue
                    for sse in decoder.feed(item.data):
                        terminal_seen |= _record_sse(recorder, name, sse, answer, on_event)
                        if terminal_seen:
                            # RWS-HTTP-7: from here on the body must end within the timeout.
                            scope.deadline = min(scope.deadline, trio.current_time() + timeout)
                elif isinstance(item, h11.EndOfMessage):
                    answer.ended = True
        if decoder is None and raw:
            # The request of a POST refused with an error is what that error answers.
            request = None if streamed or method != "POST" else event
            _record_json(recorder, name, bytes(raw), answer, http, on_event, request)
    except (OSError, trio.TooSlowError, h11.ProtocolError, trio.BrokenResourceError) as exc:
        answer.error = f"{type(exc).__name__}: {exc}"
        await client.aclose()
    if not answer.ended:
        await client.aclose()  # a body that did not end: the connection cannot be reused
    # The end of the answer ends the WebSocket connection it stands for (RWS-HTTP-2).
    recorder.add(
        name,
        "close",
        dir="s2c" if answer.ended else "c2s",
        reason="end of the HTTP answer" if answer.ended else "the suite stopped reading",
    )
    return answer


def _record_sse(
    recorder: Recorder, name: str, sse: SseEvent, answer: Answer, on_event: OnEvent | None
) -> bool:
    """Record one server-sent event; return whether it is a run's terminal event."""
    record = recorder.add(name, "text", dir="s2c", text=sse.data, http={"sse": sse.event})
    answer.sse.append((sse.event, sse.data))
    try:
        parsed = json.loads(sse.data)
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        return False
    answer.events.append(parsed)
    if on_event is not None:
        on_event(record, sse.data, parsed)
    return parsed.get("type") in ("response.completed", "response.incomplete", "response.failed")


def _record_json(
    recorder: Recorder,
    name: str,
    raw: bytes,
    answer: Answer,
    http: dict[str, Any],
    on_event: OnEvent | None,
    request: Mapping[str, Any] | None,
) -> None:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = raw.decode("utf-8", "replace")
    answer.body = body
    status = answer.status or 0
    if status < 400 or status in (401, 403) or http.get("method") != "POST":
        # A response object (RWS-HTTP-9/10), a refusal of the credentials (the refused
        # upgrade of WebSocket mode) or a GET's answer: not the outcome of a request.
        http["answer"] = body
        return
    if request is not None:
        # Written now that the answer says it was a request with an outcome (RWS-HTTP-8).
        http.pop("request", None)
        recorder.add(
            name,
            "text",
            dir="c2s",
            text=json.dumps(request, separators=(",", ":")),
            note="recorded when its answer came",
        )
    # RWS-HTTP-8: the error answer is the outcome the error event is over WebSocket.
    error = body.get("error") if isinstance(body, dict) else None
    event = {"type": "error", "status": status, "error": error}
    text = json.dumps(event, separators=(",", ":"))
    record = recorder.add(name, "text", dir="s2c", text=text, http={"status": status, "body": body})
    answer.events.append(event)
    if on_event is not None:
        on_event(record, text, event)


class HttpConnection(Connection):
    """A scenario's connection over HTTP: each ``response.create`` one ``POST``, in order.

    It offers what scenarios use of :class:`~conformance.harness.wire.Connection` - sending
    events, the messages received, the waits - and refuses what HTTP cannot carry (raw text,
    binary messages, pings), which only WebSocket-only checks use.
    """

    def __init__(
        self,
        name: str,
        recorder: Recorder,
        url: str,
        api_key: str | None,
        timeout: float,
        nursery: trio.Nursery,
    ) -> None:
        # Not Connection.__init__: there is no WebSocket; the state the waits use is set here.
        self.name = name
        self.recorder = recorder
        self.url = url
        self.api_key = api_key
        self.timeout = timeout
        self.response_headers: dict[str, str] = {}
        self.messages: list[Message] = []
        self.closed = trio.Event()
        self.close_code: int | None = None
        self._changed = trio.Event()
        self._closing_by_us = False
        self._client = HttpClient(url)
        self._target = urlsplit(url).path or "/"
        self._send_queue, self._receive_queue = trio.open_memory_channel[dict[str, Any]](256)
        self.answers: list[Answer] = []
        nursery.start_soon(self._worker)

    async def _worker(self) -> None:
        async with self._receive_queue:
            async for event in self._receive_queue:
                body = {k: v for k, v in event.items() if k != "type"}
                body["stream"] = True
                answer = await exchange(
                    self.recorder,
                    self._client,
                    self.url,
                    "POST",
                    self._target,
                    api_key=self.api_key,
                    body=body,
                    event={**event, "stream": True},
                    timeout=self.timeout,
                    on_event=self._on_event,
                )
                self.answers.append(answer)
                self.response_headers = answer.headers

    def _on_event(self, record: Mapping[str, Any], text: str, event: Mapping[str, Any]) -> None:
        self._append(
            Message(
                index=len(self.messages),
                ts=float(record["ts"]),
                kind="text",
                text=text,
                event=event,
            )
        )

    async def send_text(self, text: str, note: str | None = None, *, what: str = "") -> None:
        """Send one ``response.create`` given as JSON text (other text has no HTTP form)."""
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict) or event.get("type") != "response.create":
            raise NotImplementedError("over HTTP only response.create events can be sent")
        if self.closed.is_set():
            raise ConnectionClosedError(what or "a response.create", None, self.describe_close())
        await self._send_queue.send(event)

    async def send_binary(self, data: bytes, note: str | None = None) -> None:
        raise NotImplementedError("HTTP has no binary messages")

    async def ping(self, within: float, payload: bytes | None = None) -> bool:
        raise NotImplementedError("HTTP has no pings")

    async def close(self, code: int = 1000) -> None:
        """Stop sending; the exchanges already sent are not waited for."""
        if self.closed.is_set():
            return
        self._closing_by_us = True
        self._send_queue.close()
        await self._client.aclose()
        self.closed.set()
        self._changed.set()

    def describe_close(self) -> str:
        return "the suite had closed the connection" if self._closing_by_us else "open"


async def open_http_connection(
    nursery: trio.Nursery,
    recorder: Recorder,
    ws_url: str,
    *,
    api_key: str | None,
    timeout: float,  # noqa: ASYNC109 - kept for the connection's exchanges, not awaited here
) -> HttpConnection:
    """A scenario's HTTP connection to the HTTP endpoint of ``ws_url`` (no request yet)."""
    url = http_url(ws_url)
    if urlsplit(url).scheme != "http":
        raise Rejected(None, "the HTTP transport of the suite speaks plain http only")
    return HttpConnection(recorder.new_connection_name(), recorder, url, api_key, timeout, nursery)
