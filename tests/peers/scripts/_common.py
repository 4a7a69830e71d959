"""Shared plumbing for the peer scripts (run with the peers interpreter, not the project's).

Run a script from the repository root as a module, e.g.
``.venv-peers/bin/python -m tests.peers.scripts.sdk_lanes`` (the test fixture does this).

The scripts in this folder drive the real ``openai`` / ``openai-agents`` SDKs against a running
server and print one JSON object describing what they observed; the pytest side
(``tests/peers/test_*.py``) asserts on it. This module holds only what every script needs:
reading the server coordinates from the environment, building the SDK client, recording raw
events and the wire, and printing the report. It imports nothing from the project's packages
(the peers virtualenv does not have them installed): only the standard library, ``openai`` and
the ``websockets`` it runs on.

Environment:

- ``RWS_URL``: the HTTP base URL the SDK is given as ``base_url``, e.g.
  ``http://127.0.0.1:8080/v1``. The SDK derives the WebSocket URL itself (``http`` -> ``ws``,
  then ``/responses`` appended), so the upgrade goes to ``ws://127.0.0.1:8080/v1/responses``.
- ``RWS_API_KEY``: the bearer key the server accepts.
- ``RWS_MODEL``: the model id, ``conformance-1`` by default.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI, OpenAI  # type: ignore[import-not-found]
from websockets.asyncio.client import ClientConnection as AsyncClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection as SyncClientConnection

__all__ = [
    "Env",
    "RawRecorder",
    "async_client",
    "client",
    "dump",
    "env",
    "output_text",
    "record_arrivals",
    "run_turn",
    "tap_wire",
]


@dataclass(frozen=True)
class Env:
    """Where the server is and which model to ask for."""

    base_url: str
    api_key: str
    model: str


def env() -> Env:
    """Read ``RWS_URL``, ``RWS_API_KEY`` and ``RWS_MODEL`` (see the module docstring)."""
    return Env(
        base_url=os.environ["RWS_URL"],
        api_key=os.environ["RWS_API_KEY"],
        model=os.environ.get("RWS_MODEL", "conformance-1"),
    )


def client(e: Env) -> Any:
    """Build a synchronous ``OpenAI`` client pointed at the server under test.

    ``max_retries=0``: a peer test must see the server's first answer, not a retried one.
    """
    return OpenAI(api_key=e.api_key, base_url=e.base_url, max_retries=0, timeout=20.0)


def async_client(e: Env) -> Any:
    """Build an ``AsyncOpenAI`` client pointed at the server under test (see ``client``)."""
    return AsyncOpenAI(api_key=e.api_key, base_url=e.base_url, max_retries=0, timeout=20.0)


@dataclass
class RawRecorder:
    """The raw server messages of one run, as parsed JSON, in arrival order.

    The scripts read with ``connection.recv_bytes()`` and parse with the SDK's
    ``connection.parse_event()`` (its documented two-step equivalent of ``recv()``), so the
    report can carry both what the SDK made of an event and the exact wire JSON the test needs
    to recompute context digests from the appendix rules.
    """

    events: list[dict[str, Any]] = field(default_factory=list)

    def types(self) -> list[str]:
        """The ``type`` of every recorded event."""
        return [str(ev.get("type")) for ev in self.events]

    def items_done(self) -> list[dict[str, Any]]:
        """The items of ``response.output_item.done`` events, in order (the A.1 output)."""
        return [ev["item"] for ev in self.events if ev.get("type") == "response.output_item.done"]

    def terminal(self) -> dict[str, Any] | None:
        """The last terminal event (completed/incomplete/failed) or ``error``, if any."""
        for ev in reversed(self.events):
            if ev.get("type") in {
                "response.completed",
                "response.incomplete",
                "response.failed",
                "error",
            }:
                found: dict[str, Any] = ev
                return found
        return None


_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})


def run_turn(connection: Any, **create: Any) -> tuple[RawRecorder, list[Any]]:
    """Send one ``response.create`` with ``connection.response.create`` and read to its end.

    Returns the raw events and the SDK's typed events. Reading stops at the first terminal
    event or ``error`` (RWS-CLIENT-4: either ends the lane's current run).
    """
    connection.response.create(**create)
    raw = RawRecorder()
    typed: list[Any] = []
    while True:
        data = connection.recv_bytes()
        event = connection.parse_event(data)
        raw.events.append(json.loads(data))
        typed.append(event)
        if event.type in _TERMINAL:
            return raw, typed


def record_arrivals(connection: Any) -> list[dict[str, Any]]:
    """Record every message the connection parses, as raw JSON, in arrival order.

    The lane helper (``ResponsesWebSocketSession``) owns the read side and hands events to
    lanes already parsed; its one reader calls ``connection.parse_event(data)`` for each message
    in arrival order. Wrapping that method on this one connection object is the least invasive
    way to see the global interleaving of lanes and the exact wire JSON; the wrapper returns
    what the SDK's own parser returns, so the session behaves exactly as without it.
    """
    arrivals: list[dict[str, Any]] = []
    parse = connection.parse_event

    def recording_parse(data: str | bytes) -> Any:
        arrivals.append(json.loads(data))
        return parse(data)

    connection.parse_event = recording_parse
    return arrivals


# Connections seen by the tap, kept alive so that their numbers (index in this list) stay unique
# for the whole script; ``id()`` alone could be reused after a connection is collected.
_CONNECTIONS: list[object] = []


def _connection_number(connection: object) -> int:
    for number, seen in enumerate(_CONNECTIONS):
        if seen is connection:
            return number
    _CONNECTIONS.append(connection)
    return len(_CONNECTIONS) - 1


def _wire_record(connection: object, direction: str, message: object) -> dict[str, Any]:
    if isinstance(message, bytes | bytearray | memoryview):
        text = bytes(message).decode("utf-8", "replace")
    else:
        text = str(message)
    record: dict[str, Any] = {"conn": _connection_number(connection), "dir": direction}
    try:
        record["event"] = json.loads(text)
    except ValueError:
        record["text"] = text
    return record


def tap_wire() -> list[dict[str, Any]]:
    """Record every message the ``websockets`` client connections send and receive, in order.

        Both SDKs talk through ``websockets`` client connections (``openai`` through the sync or
    asyncio ``ClientConnection``, ``openai-agents`` through the asyncio one it opens itself), so
    wrapping ``send`` and ``recv`` of those two classes shows the test exactly what went over
    the wire in each direction and on which connection, without changing what the SDKs do: the
    wrappers pass every argument and result through. Records are
    ``{"conn": <n>, "dir": "c2s"|"s2c", "event": <parsed JSON>}``, connections numbered from 0
    in order of first use; the first receive that finds a connection closed adds
    ``{"conn": <n>, "dir": "s2c", "close": {"code": ..., "reason": ...}}`` (``"dir": "none"``
    when no close frame was received).
    """
    wire: list[dict[str, Any]] = []
    sync_send, sync_recv = SyncClientConnection.send, SyncClientConnection.recv
    async_send, async_recv = AsyncClientConnection.send, AsyncClientConnection.recv

    def tapped_sync_send(self: SyncClientConnection, message: Any, *args: Any, **kw: Any) -> Any:
        wire.append(_wire_record(self, "c2s", message))
        return sync_send(self, message, *args, **kw)

    def note_close(connection: object, exc: ConnectionClosed) -> None:
        number = _connection_number(connection)
        if not any(r["conn"] == number and "close" in r for r in wire):
            received = exc.rcvd
            wire.append(
                {
                    "conn": number,
                    "dir": "s2c" if received is not None else "none",
                    "close": {
                        "code": None if received is None else received.code,
                        "reason": None if received is None else received.reason,
                    },
                }
            )

    def tapped_sync_recv(self: SyncClientConnection, *args: Any, **kw: Any) -> Any:
        try:
            message = sync_recv(self, *args, **kw)
        except ConnectionClosed as exc:
            note_close(self, exc)
            raise
        wire.append(_wire_record(self, "s2c", message))
        return message

    async def tapped_async_send(
        self: AsyncClientConnection, message: Any, *args: Any, **kw: Any
    ) -> Any:
        wire.append(_wire_record(self, "c2s", message))
        return await async_send(self, message, *args, **kw)

    async def tapped_async_recv(self: AsyncClientConnection, *args: Any, **kw: Any) -> Any:
        try:
            message = await async_recv(self, *args, **kw)
        except ConnectionClosed as exc:
            note_close(self, exc)
            raise
        wire.append(_wire_record(self, "s2c", message))
        return message

    SyncClientConnection.send = tapped_sync_send  # type: ignore[method-assign, assignment]
    SyncClientConnection.recv = tapped_sync_recv  # type: ignore[method-assign, assignment]
    AsyncClientConnection.send = tapped_async_send  # type: ignore[method-assign, assignment]
    AsyncClientConnection.recv = tapped_async_recv  # type: ignore[method-assign, assignment]
    return wire


def output_text(items: list[dict[str, Any]]) -> str:
    """Concatenate the ``output_text`` parts of the assistant messages in ``items``."""
    return "".join(
        part.get("text", "")
        for item in items
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )


def dump(report: dict[str, Any]) -> None:
    """Print the report as the script's only stdout line."""
    sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")
    sys.stdout.flush()
