"""The scripted server's I/O glue: ``websockets.trio`` on loopback, recording a transcript.

Thin by design: every decision is the :class:`~conformance.clientsuite.script.Script`'s. Per
connection one task receives (recording each client message when it arrives, so that the
transcript shows what the client sent while a run was still streaming) and feeds the script;
another executes the script's actions in order, a :class:`~conformance.clientsuite.script.Stream`
one step at a time (the script makes each step when the previous one is done, so that what the
client sent meanwhile can change it). Records use the transcript format of
docs/transcripts.md; pings are not transcript records, their outcomes go to
:attr:`ScriptedServer.observations`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http
import math
from dataclasses import dataclass, field
from typing import Any

import trio
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.trio.server import Server, ServerConnection, serve

from conformance.clientsuite.script import (
    BUSY_LANE,
    Action,
    Close,
    Pause,
    Ping,
    Script,
    Send,
    SendBatch,
    Step,
    Stream,
)
from conformance.clientsuite.upgrade import HEADER, inspect_upgrade

__all__ = ["NO_STATUS", "PATH", "ScriptedServer"]

PATH = "/v1/responses"
MAX_MESSAGE = 16 * 1024 * 1024
PONG_WAIT = 5.0
LIMITS_HEADER = "responses-ws-limits"
LIMITS = (
    f"max-connection-age=3600,idle-timeout=none,max-message-size={MAX_MESSAGE},"
    f"max-active-responses=16,max-named-lanes=32,busy-lane={BUSY_LANE}"
)
NO_STATUS = 1005
# A lanes scenario serves what it holds once the client has been quiet this long.
LANES_WAIT = 1.5
_RUN_START = '{"type":"response.created"'
_SETTLE = 0.005


@dataclass
class ScriptedServer:
    """One scenario's server: the script, the API key it accepts, and what it recorded."""

    script: Script
    api_key: str
    records: list[dict[str, Any]] = field(default_factory=list)
    observations: dict[str, Any] = field(
        default_factory=lambda: {"pings": 0, "pongs": 0, "upgrades": []}
    )
    url: str = ""
    _t0: float = 0.0
    _count: int = 0
    _closed: set[str] = field(default_factory=set)

    def _add(self, conn: str, kind: str, **fields: Any) -> None:
        record: dict[str, Any] = {"ts": round(trio.current_time() - self._t0, 6), "conn": conn}
        record["kind"] = kind
        record.update({k: v for k, v in fields.items() if v is not None})
        self.records.append(record)

    async def run(self, *, task_status: trio.TaskStatus[ScriptedServer]) -> None:
        """Serve on 127.0.0.1, an ephemeral port, until cancelled."""
        self._t0 = trio.current_time()
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(
                lambda task_status: serve(
                    self._handle,
                    0,
                    host="127.0.0.1",
                    process_request=self._process_request,
                    process_response=self._process_response,
                    max_size=MAX_MESSAGE,
                    ping_interval=None,
                    close_timeout=2,
                    task_status=task_status,
                )
            )
            port = next(iter(server.listeners)).socket.getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}{PATH}"
            task_status.started(self)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        # The query is never recorded: a client may have put its key there.
        path = request.path.split("?", 1)[0]
        # RWS-TRANS-19: how the client carried its credential, judged for every upgrade.
        upgrade = inspect_upgrade(
            request.path,
            request.headers.get_all(HEADER),
            request.headers.raw_items(),
            self.api_key,
        )
        seen = upgrade.to_dict()
        self.observations["upgrades"].append(seen)
        if path != PATH:
            shown = path if self.api_key not in path else "<a path holding the key>"
            seen.update(status=404, refusal=f"HTTP 404: the path {shown} is not {PATH}")
            self._add("-", "rejected", url=shown, status=404)
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        if not upgrade.accepted:
            # RWS-TRANS-2: no accepted credentials, no WebSocket.
            seen.update(status=401, refusal=f"HTTP 401: {upgrade.describe()}")
            self._add("-", "rejected", url=path, status=401, note=upgrade.describe())
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "unauthorized\n")
        seen["status"] = 101
        return None

    def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> Response:
        # RWS-TRANS-11: advertise the limits, busy-lane=reject above all (RWS-CLIENT-3 binds).
        response.headers[LIMITS_HEADER] = LIMITS
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            await self._serve_connection(ws)
        except Exception as exc:
            # A harness bug must never read as the client's fault: the judge reports it.
            self.observations.setdefault("harness_errors", []).append(
                f"{type(exc).__name__}: {exc}"
            )
            raise

    async def _serve_connection(self, ws: ServerConnection) -> None:
        self._count += 1
        conn = f"c{self._count}"
        principal = "sha256:" + hashlib.sha256(self.api_key.encode()).hexdigest()[:16]
        self._add(conn, "open", url=self.url, status=101, principal=principal)
        send, receive = trio.open_memory_channel[Action](math.inf)
        for action in self.script.connect(conn):
            send.send_nowait(action)
        activity = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sender, ws, conn, receive, nursery.cancel_scope)
            nursery.start_soon(self._lanes_timer, conn, send, lambda: activity)

            try:
                async for message in ws:
                    if conn in self._closed:
                        # Sent before the client saw our close; not part of the exchange.
                        self.observations["after_close"] = (
                            self.observations.get("after_close", 0) + 1
                        )
                        continue
                    if isinstance(message, bytes):
                        b64 = base64.b64encode(message).decode()
                        self._add(conn, "binary", dir="c2s", b64=b64)
                        actions = self.script.binary(conn)
                    else:
                        self._add(conn, "text", dir="c2s", text=message)
                        actions = self.script.receive(conn, message)
                    activity.set()
                    activity = trio.Event()
                    for action in actions:
                        send.send_nowait(action)
            except ConnectionClosed:
                pass
            if not any(r["conn"] == conn and r["kind"] == "close" for r in self.records):
                rcvd = ws.protocol.close_rcvd
                code = rcvd.code if rcvd is not None else 1006
                self._add(conn, "close", dir="c2s" if rcvd is not None else None, code=code)
            self.script.disconnect(conn)
            nursery.cancel_scope.cancel()

    async def _lanes_timer(self, conn: str, send: Any, current: Any) -> None:
        while True:
            with trio.move_on_after(LANES_WAIT):
                await current().wait()
                continue
            if self.script.waiting(conn):
                for action in self.script.flush(conn):
                    send.send_nowait(action)

    async def _sender(
        self, ws: ServerConnection, conn: str, receive: Any, scope: trio.CancelScope
    ) -> None:
        async for action in receive:
            steps = action.steps if isinstance(action, Stream) else (action,)
            # A Stream's next step is made only when the previous one is done.
            for step in steps:
                if not await self._execute(ws, conn, step, scope):
                    return

    async def _execute(
        self, ws: ServerConnection, conn: str, action: Step, scope: trio.CancelScope
    ) -> bool:
        """Carry out one step; False once the connection is closed."""
        try:
            if isinstance(action, Send):
                if action.text.startswith(_RUN_START):
                    # Let client messages that arrived with the request be read (and
                    # recorded) before the run starts: the transcript must show a second
                    # create sent back to back as sent while the lane was busy.
                    await trio.sleep(_SETTLE)
                self._add(conn, "text", dir="s2c", text=action.text)
                if action.ends_run:
                    # No checkpoint since the record: nothing was read in between.
                    self.script.finished(conn, action.lane)
                await ws.send(action.text)
            elif isinstance(action, SendBatch):
                for text in action.texts:
                    self._add(conn, "text", dir="s2c", text=text)
                if action.ends_run:
                    self.script.finished(conn, action.lane)
                for text in action.texts:
                    await ws.send(text)
            elif isinstance(action, Pause):
                await trio.sleep(action.seconds)
            elif isinstance(action, Ping):
                self.observations["pings"] += 1
                waiter = await ws.ping()
                with trio.move_on_after(PONG_WAIT):
                    await waiter.wait()
                    self.observations["pongs"] += 1
            elif isinstance(action, Close):
                self._closed.add(conn)
                self._add(conn, "close", dir="s2c", code=action.code, reason=action.reason)
                if action.code == NO_STATUS:
                    # A close frame without a status code (the client sees 1005, which
                    # no endpoint may send as a code): the documented send_context
                    # pattern, as aclose() does it.
                    with contextlib.suppress(ConnectionClosed):
                        async with ws.send_context():
                            ws.protocol.send_close()
                else:
                    await ws.aclose(action.code, action.reason)
                self.script.disconnect(conn)
                scope.cancel()
                return False
        except ConnectionClosed:
            return False
        return True
