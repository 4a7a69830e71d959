"""The suite's side of the wire: WebSocket connections that record every message both ways.

Everything a scenario does on the wire goes through a :class:`Connection` opened with
:func:`open_connection`, so that the transcript (docs/development.md, "Transcripts") holds
exactly what happened, in order, and the checker and the reports see the same data. Waiting
comes in the two kinds the suite distinguishes: :meth:`Connection.expect_within` ("must happen
within T") and :meth:`Connection.expect_nothing_during` ("must not happen during T").
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import trio
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State
from websockets.trio.client import ClientConnection, connect

from conformance.wording import event_text

__all__ = [
    "Connection",
    "ConnectionClosedError",
    "ExpectationTimeout",
    "Message",
    "Predicate",
    "Recorder",
    "Rejected",
    "http_get_status",
    "open_connection",
]


class Recorder:
    """Collects transcript records of one check, timestamped from the recording's start."""

    def __init__(self) -> None:
        self._t0 = trio.current_time()
        self.records: list[dict[str, Any]] = []
        self._count = 0

    def new_connection_name(self) -> str:
        """Return the next connection name: ``c1``, ``c2``, ..."""
        self._count += 1
        return f"c{self._count}"

    def add(self, conn: str, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one record and return it."""
        record: dict[str, Any] = {
            "ts": round(trio.current_time() - self._t0, 6),
            "conn": conn,
            "kind": kind,
        }
        record.update({key: value for key, value in fields.items() if value is not None})
        self.records.append(record)
        return record


@dataclass(frozen=True)
class Message:
    """One message the server sent (or the close of the connection), as the suite saw it."""

    index: int
    ts: float
    kind: str  # "text", "binary" or "close"
    text: str | None = None
    data: bytes | None = None
    event: Mapping[str, Any] | None = None  # the parsed JSON object, for text messages
    close_code: int | None = None

    @property
    def type(self) -> str | None:
        """The event's ``type``, or None."""
        value = self.event.get("type") if self.event is not None else None
        return value if isinstance(value, str) else None


Predicate = Callable[[Message], bool]


class ExpectationTimeout(Exception):
    """Something the server owed did not arrive within the timeout."""

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(f"{what}: nothing within {timeout:g} s")
        self.what = what
        self.timeout = timeout


class ConnectionClosedError(Exception):
    """The connection closed while the suite was waiting for something on it.

    ``detail`` says who closed it, with which code, and what the server sent last
    (:meth:`Connection.describe_close`); without it the message gives the code alone.
    """

    def __init__(self, what: str, code: int | None, detail: str | None = None) -> None:
        said = detail or (
            f"the connection closed with code {code}"
            if code is not None
            else "the connection closed without a close code"
        )
        super().__init__(f"{what}: {said}")
        self.what = what
        self.code = code
        self.detail = said


class Rejected(Exception):
    """The server refused the WebSocket upgrade with an HTTP status."""

    def __init__(self, status: int | None, reason: str = "") -> None:
        text = (
            f"upgrade rejected with HTTP {status} {reason}".rstrip()
            if status is not None
            else f"could not connect: {reason}"
        )
        super().__init__(text)
        self.status = status


class _RecordingClientConnection(ClientConnection):
    """A websockets client connection that reports the control frames it receives.

    websockets answers a ping by itself (the pong is queued before the frame reaches
    :meth:`process_event`) and never hands pongs to the application, so the harness sees
    pings and pongs only here. Frames that arrive before the :class:`Connection` exists (a
    server may ping right after the upgrade) wait for :meth:`attach`.
    """

    _on_control: Callable[[str, bytes], None] | None = None
    _early: list[tuple[str, bytes]] | None = None

    def attach(self, callback: Callable[[str, bytes], None]) -> None:
        """Report control frames to ``callback``, those received so far first."""
        self._on_control = callback
        for kind, payload in self._early or ():
            callback(kind, payload)
        self._early = None

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode in (Opcode.PING, Opcode.PONG):
            kind = "ping" if event.opcode is Opcode.PING else "pong"
            callback = self._on_control
            if callback is not None:
                callback(kind, bytes(event.data))
            else:
                if self._early is None:
                    self._early = []
                self._early.append((kind, bytes(event.data)))
        super().process_event(event)


class Connection:
    """One open WebSocket to the server under test, recording both directions.

    A background task (started in the nursery given to :func:`open_connection`) receives
    every message into :attr:`messages`; the ``expect_*`` methods wait on that list.
    """

    def __init__(
        self, name: str, ws: ClientConnection, recorder: Recorder, headers: Mapping[str, str]
    ) -> None:
        self.name = name
        self.ws = ws
        self.recorder = recorder
        self.response_headers = dict(headers)
        self.messages: list[Message] = []
        self.closed = trio.Event()
        self.close_code: int | None = None
        self._changed = trio.Event()
        self._closing_by_us = False
        self._ping_ids = itertools.count(1)
        if isinstance(ws, _RecordingClientConnection):
            ws.attach(self._control)

    # --- receiving ---------------------------------------------------------------------

    async def _receive(self) -> None:
        try:
            while True:
                raw = await self.ws.recv()
                if self.closed.is_set():
                    break  # buffered after our close was recorded: not part of the transcript
                record = (
                    self.recorder.add(self.name, "text", dir="s2c", text=raw)
                    if isinstance(raw, str)
                    else self.recorder.add(
                        self.name, "binary", dir="s2c", b64=base64.b64encode(raw).decode()
                    )
                )
                event: Mapping[str, Any] | None = None
                if isinstance(raw, str):
                    try:
                        parsed = json.loads(raw)
                    except ValueError:
                        parsed = None
                    event = parsed if isinstance(parsed, dict) else None
                self._append(
                    Message(
                        index=len(self.messages),
                        ts=float(record["ts"]),
                        kind="text" if isinstance(raw, str) else "binary",
                        text=raw if isinstance(raw, str) else None,
                        data=raw if isinstance(raw, bytes) else None,
                        event=event,
                    )
                )
        except ConnectionClosed:
            pass
        finally:
            self._on_closed()

    def _control(self, kind: str, payload: bytes) -> None:
        # Control frames are recorded when websockets processes them; a text message that
        # arrived just before may be recorded after (the receive task records it when it
        # wakes), which the checker's ping rules do not depend on.
        if self.closed.is_set():
            return
        b64 = base64.b64encode(payload).decode()
        self.recorder.add(self.name, kind, dir="s2c", b64=b64)
        if kind == "ping":
            # RFC 6455 section 5.5.2: websockets has already queued the pong (same payload).
            self.recorder.add(self.name, "pong", dir="c2s", b64=b64)

    def _append(self, message: Message) -> None:
        self.messages.append(message)
        self._changed.set()
        self._changed = trio.Event()

    def _on_closed(self) -> None:
        if self.closed.is_set():
            return
        code = self.ws.close_code
        self.close_code = code
        reason = self.ws.close_reason or ""
        if not self._closing_by_us:
            record = self.recorder.add(self.name, "close", dir="s2c", code=code, reason=reason)
            self._append(
                Message(
                    index=len(self.messages), ts=float(record["ts"]), kind="close", close_code=code
                )
            )
        self.closed.set()
        self._changed.set()

    # --- sending -----------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        # Nothing is recorded (or sent) on a closed connection: a transcript never shows
        # traffic after a close.
        if self.closed.is_set() or self.ws.state is not State.OPEN:
            raise self._closed_error(f"sending {what}")

    def _closed_error(self, what: str) -> ConnectionClosedError:
        return ConnectionClosedError(what, self._close_code(), self.describe_close())

    def _close_code(self) -> int | None:
        # The code of the server's close frame, as soon as websockets has read it (its own
        # close_code stays None until the closing handshake is over).
        received = getattr(getattr(self.ws, "protocol", None), "close_rcvd", None)
        if received is not None:
            return int(received.code)
        return self.close_code if self.close_code is not None else self.ws.close_code

    def describe_close(self) -> str:
        """How the connection ended, for a message: who closed it, with which close code,
        and the last message the server sent before (an ``error`` event named with its code,
        type and status as received)."""
        if self._closing_by_us:
            return "the suite had closed the connection"
        received = getattr(getattr(self.ws, "protocol", None), "close_rcvd", None)
        code = self._close_code()
        if received is not None or any(m.kind == "close" for m in self.messages):
            text = (
                f"the server closed the connection with code {code}"
                if code not in (None, 1005)
                else "the server closed the connection with a close frame without a code"
            )
            reason = (
                received.reason if received is not None else getattr(self.ws, "close_reason", "")
            )
            if reason:
                text += f" (reason {reason!r})"
        elif code is None and not self.closed.is_set():
            text = "the connection was closing"
        else:
            text = "the connection ended without a close frame"
        last = next((m for m in reversed(self.messages) if m.kind != "close"), None)
        if last is None:
            return text + ", before the server sent any message"
        return text + ", right after " + event_text(last.event, last.text)

    async def send_text(self, text: str, note: str | None = None, *, what: str = "") -> None:
        """Send one raw text message (``what`` names it in errors: ``response.create``)."""
        self._check_open(what or "a text message")
        record = self.recorder.add(self.name, "text", dir="c2s", text=text, note=note)
        await self._send(text, record, what or "a text message")

    async def send_json(self, event: Mapping[str, Any], note: str | None = None) -> None:
        """Send one client event as a JSON text message."""
        etype = event.get("type")
        await self.send_text(
            json.dumps(event, separators=(",", ":")),
            note=note,
            what=f"a `{etype}` event" if isinstance(etype, str) else "a JSON object",
        )

    async def send_binary(self, data: bytes, note: str | None = None) -> None:
        """Send one binary message."""
        self._check_open("a binary message")
        record = self.recorder.add(
            self.name, "binary", dir="c2s", b64=base64.b64encode(data).decode(), note=note
        )
        await self._send(data, record, "a binary message")

    async def _send(self, data: str | bytes, record: dict[str, Any], what: str) -> None:
        # Recorded before sending so that a fast reply never precedes its request in the
        # transcript; un-recorded if the connection turned out to be closed (nothing was sent).
        try:
            await self.ws.send(data)
        except ConnectionClosed as exc:
            self.recorder.records.remove(record)
            raise self._closed_error(f"sending {what}") from exc

    async def ping(self, within: float, payload: bytes | None = None) -> bool:
        """Send a ping and return whether its pong arrived within ``within`` seconds.

        The ping is recorded as a ``ping`` record (c2s) with its payload, the server's pong as
        a ``pong`` record (s2c), so the checker judges RWS-TRANS-9 from the transcript.
        """
        self._check_open("a ping")
        data = payload if payload is not None else f"rws-ping-{next(self._ping_ids)}".encode()
        record = self.recorder.add(
            self.name, "ping", dir="c2s", b64=base64.b64encode(data).decode()
        )
        try:
            pong = await self.ws.ping(data, ack_on_close=True)
        except ConnectionClosed as exc:
            self.recorder.records.remove(record)
            raise self._closed_error("sending a ping") from exc
        with trio.move_on_after(within):
            await pong.wait()
            return not self.closed.is_set()
        return False

    async def close(self, code: int = 1000) -> None:
        """Close the connection from the client side (recorded as a c2s close)."""
        if self.closed.is_set():
            return
        self._closing_by_us = True
        with trio.move_on_after(2):
            await self.ws.aclose(code)
        # Recorded once the closing handshake is over: what the server sent before it saw
        # our close frame is recorded before this record, never after it.
        self.recorder.add(self.name, "close", dir="c2s", code=code, reason="")
        self._on_closed()

    # --- waiting -----------------------------------------------------------------------

    def find(self, predicate: Predicate, since: int = 0) -> Message | None:
        """Return the first message from index ``since`` on that matches, if any."""
        for message in self.messages[since:]:
            if predicate(message):
                return message
        return None

    # The timeout is a parameter on purpose: it is the suite's configured "must happen
    # within" value, reported in the failure message (ExpectationTimeout).
    async def expect_within(
        self,
        predicate: Predicate,
        timeout: float,  # noqa: ASYNC109
        *,
        since: int = 0,
        what: str = "a message",
    ) -> Message:
        """Wait until a message matching ``predicate`` arrives (must happen within T).

        Raises :class:`ExpectationTimeout` after ``timeout`` seconds, or
        :class:`ConnectionClosedError` when the connection closes first.
        """
        with trio.move_on_after(timeout):
            while True:
                found = self.find(predicate, since)
                if found is not None:
                    return found
                if self.closed.is_set():
                    raise self._closed_error(what)
                await self._changed.wait()
        raise ExpectationTimeout(what, timeout)

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109
        *,
        what: str = "a condition",
    ) -> None:
        """Wait until ``condition()`` holds, re-checking after every received message.

        Raises :class:`ExpectationTimeout` or :class:`ConnectionClosedError` like
        :meth:`expect_within`.
        """
        with trio.move_on_after(timeout):
            while True:
                if condition():
                    return
                if self.closed.is_set():
                    raise self._closed_error(what)
                await self._changed.wait()
        raise ExpectationTimeout(what, timeout)

    @property
    def events(self) -> list[Mapping[str, Any]]:
        """Every JSON object received so far, in order."""
        return [message.event for message in self.messages if message.event is not None]

    async def expect_nothing_during(
        self, predicate: Predicate, duration: float, *, since: int = 0
    ) -> Message | None:
        """Watch for ``duration`` seconds; return the first matching message, or None.

        This is the "must not happen during T" wait: None is the good outcome.
        """
        with trio.move_on_after(duration):
            while True:
                found = self.find(predicate, since)
                if found is not None:
                    return found
                if self.closed.is_set():
                    break
                await self._changed.wait()
        return self.find(predicate, since)


async def open_connection(
    nursery: trio.Nursery,
    recorder: Recorder,
    url: str,
    *,
    api_key: str | None,
    headers: Mapping[str, str] | None = None,
    compression: str | None = None,
    open_timeout: float,
    max_size: int | None = 64 * 1024 * 1024,
) -> Connection:
    """Open a WebSocket to ``url`` and start recording it.

    Raises :class:`Rejected` (after recording a ``rejected`` record) when the server answers
    the upgrade with another status than 101.
    """
    name = recorder.new_connection_name()
    all_headers: dict[str, str] = dict(headers or {})
    if api_key is not None:
        all_headers["Authorization"] = f"Bearer {api_key}"
    connector = connect(
        url,
        create_connection=_RecordingClientConnection,
        additional_headers=all_headers,
        compression=compression,
        proxy=None,
        open_timeout=open_timeout,
        ping_interval=None,
        max_size=max_size,
        max_queue=None,
        user_agent_header="responses-ws-conformance",
    )
    try:
        ws = await connector.connect(nursery)
    except InvalidStatus as exc:
        status = exc.response.status_code
        recorder.add(name, "rejected", url=url, status=status)
        raise Rejected(status, exc.response.reason_phrase) from exc
    except (OSError, TimeoutError, trio.TooSlowError) as exc:
        recorder.add(name, "rejected", url=url, note=f"could not connect: {exc}")
        raise Rejected(None, str(exc)) from exc
    response = ws.response
    response_headers = dict(response.headers.raw_items()) if response is not None else {}
    recorder.add(
        name,
        "open",
        url=url,
        status=response.status_code if response is not None else 101,
        headers=response_headers,
        # RWS-LIMIT-5: the checker compares principals; only a fingerprint of the key is kept.
        principal=_fingerprint(api_key),
    )
    connection = Connection(name, ws, recorder, response_headers)
    nursery.start_soon(connection._receive)
    return connection


def _fingerprint(api_key: str | None) -> str | None:
    if api_key is None:
        return None
    return "key-sha256:" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


async def http_get_status(
    recorder: Recorder,
    url: str,
    *,
    api_key: str | None,
    within: float,
    extra_headers: Mapping[str, str] | None = None,
) -> int | None:
    """Send a plain HTTP GET (no upgrade headers) to the WebSocket URL; return the status.

    Used for RWS-TRANS-4 (426 Upgrade Required). Recorded as a ``rejected`` record when the
    status is not 101, with a note saying it was a plain GET.
    """
    parts = urlsplit(url)
    if parts.scheme == "wss":
        raise NotImplementedError("plain GET over TLS is not supported by the suite yet")
    host = parts.hostname or "localhost"
    port = parts.port or 80
    name = recorder.new_connection_name()
    lines = [
        f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Connection: close",
    ]
    if api_key is not None:
        lines.append(f"Authorization: Bearer {api_key}")
    lines.extend(f"{key}: {value}" for key, value in (extra_headers or {}).items())
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    status: int | None = None
    with trio.move_on_after(within):
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await stream.send_all(request)
            buffer = b""
            while b"\r\n" not in buffer:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                buffer += chunk
            first = buffer.split(b"\r\n", 1)[0].split()
            if len(first) >= 2 and first[1].isdigit():
                status = int(first[1])
    recorder.add(name, "rejected", url=url, status=status, note="plain HTTP GET, no upgrade")
    return status
