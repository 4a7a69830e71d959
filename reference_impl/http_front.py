"""The HTTP front of the asyncio driver: one port for WebSocket mode and the HTTP API.

``websockets.asyncio`` builds each connection's protocol with its ``create_connection``
factory; :meth:`HttpFront.wrap` puts a :class:`FrontProtocol` in its place. That protocol reads
the first request with the sans-I/O :class:`~reference_impl.http_routes.HttpConnection`: an
upgrade (or any other ``GET`` but ``GET /v1/responses/{id}``) gets the WebSocket connection
websockets would have made, with the bytes already read, so the WebSocket server sees the
request exactly as if it had read it; ``POST /v1/responses`` and ``GET /v1/responses/{id}`` are
served here, keep-alive included (spec section 13).

As in :mod:`reference_impl.server_asyncio`, what the front sends is written at once, a run's
pauses are event-loop timers, and a task exists only where something must be awaited: saving
and looking up responses in a worker thread. A client that goes away cancels its run
(RWS-LIMIT-10: a run cut off after it was persisted is deleted again).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Coroutine
from typing import Any

from reference_impl.actions import LoadStored, Persist, RunDone, StartRun, Wait
from reference_impl.http_routes import (
    CloseTransport,
    HandOff,
    HttpConnection,
    HttpSettings,
    LoadResponse,
    SendBytes,
    http_settings,
)
from reference_impl.store import ResponseStore, StoredResponse

__all__ = ["FrontProtocol", "HttpFront", "http_settings"]

_log = logging.getLogger("reference_impl.http")


class HttpFront:
    """The HTTP side of one server: its settings, its store and its open connections."""

    def __init__(self, settings: HttpSettings, store: ResponseStore) -> None:
        self.settings = settings
        self.store = store
        self.open: set[FrontProtocol] = set()
        # Every task of every connection (saves, lookups, deletes), awaited when closing.
        self.tasks: set[asyncio.Task[None]] = set()

    def wrap(self, make_websocket: Callable[..., asyncio.Protocol]) -> Callable[..., FrontProtocol]:
        """A ``create_connection`` for ``websockets.asyncio``: the front, which makes the
        WebSocket connection with ``make_websocket`` only for a request it hands off."""

        def create(*args: Any, **kwargs: Any) -> FrontProtocol:
            return FrontProtocol(self, lambda: make_websocket(*args, **kwargs))

        return create

    async def aclose(self) -> None:
        """The server stops: every HTTP connection ends now (runs stop where they are), and
        what their tasks still owe the store (a delete, RWS-LIMIT-10) is done."""
        for protocol in list(self.open):
            protocol.abort()
        await asyncio.sleep(0)  # the transports report connection_lost: tasks are cancelled
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def start(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coroutine`` as a task the server awaits before it closes its store."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


class FrontProtocol(asyncio.Protocol):
    """One TCP connection until its first request is known; then HTTP or a hand-off."""

    def __init__(self, front: HttpFront, make_websocket: Callable[[], asyncio.Protocol]) -> None:
        self.front = front
        self.make_websocket = make_websocket
        self.core = HttpConnection(front.settings)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.runs: dict[int, asyncio.Handle | None] = {}  # None: being saved by its task
        self.tasks: set[asyncio.Task[None]] = set()
        self.handed_off = False
        self.reading = True

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.front.open.add(self)

    def data_received(self, data: bytes) -> None:
        self._call(self.core.receive_data, data, self.loop.time())

    def eof_received(self) -> bool:
        # The client closed its side: the answer in progress still goes out, then we close.
        self._call(self.core.receive_data, b"", self.loop.time())
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.open.discard(self)
        for run_id, handle in list(self.runs.items()):
            if handle is None:
                continue  # its persist task ends it
            handle.cancel()
            del self.runs[run_id]
            self._forget(run_id)
        for task in self.tasks:
            task.cancel()

    # --- performing ------------------------------------------------------------------------

    def abort(self) -> None:
        """End the connection at once (the server is stopping)."""
        if self.transport is not None and not self.handed_off:
            self.transport.abort()

    def _call(self, method: Callable[..., object], *args: Any) -> None:
        try:
            method(*args)
            self._perform()
        except Exception:
            _log.exception("HTTP connection failed")
            self.abort()

    def _perform(self) -> None:
        transport = self.transport
        if transport is None or self.handed_off:
            return
        out: list[bytes] = []
        for action in self.core.actions():
            match action:
                case SendBytes(data):
                    out.append(data)
                case HandOff(data):
                    self._hand_off(transport, data)
                    return
                case StartRun(run_id):
                    self.runs[run_id] = self.loop.call_soon(self._step, run_id)
                case LoadStored():
                    self._start(self._load(action))
                case LoadResponse():
                    self._start(self._load_response(action))
                case CloseTransport():
                    if out:
                        transport.write(b"".join(out))
                        out = []
                    transport.close()
        if out and not transport.is_closing():
            transport.write(b"".join(out))
        # While a request is answered, the next one waits unread (bounded buffering).
        if self.core.wants_data != self.reading and not transport.is_closing():
            self.reading = self.core.wants_data
            if self.reading:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def _hand_off(self, transport: asyncio.Transport, data: bytes) -> None:
        # RWS-TRANS-1: the WebSocket connection websockets would have made, given the
        # request as it arrived.
        self.handed_off = True
        self.front.open.discard(self)
        websocket = self.make_websocket()
        transport.set_protocol(websocket)
        websocket.connection_made(transport)
        websocket.data_received(data)

    def _start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self.front.start(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _step(self, run_id: int) -> None:
        try:
            step = self.core.step(run_id, self.loop.time())
            self._perform()
        except Exception:
            _log.exception("HTTP run failed")
            self.abort()
            return
        match step:
            case Wait(seconds):
                self.runs[run_id] = self.loop.call_later(seconds, self._step, run_id)
            case Persist(record, api_key):
                self.runs[run_id] = None
                self._start(self._persist(run_id, record, api_key))
            case RunDone():
                self.runs.pop(run_id, None)

    def _forget(self, run_id: int) -> None:
        # RWS-LIMIT-10: a run cut off after it was persisted is deleted again.
        unfinished = self.core.run_cancelled(run_id)
        if unfinished is not None:
            self.front.start(asyncio.to_thread(self.front.store.delete, unfinished))

    async def _persist(self, run_id: int, record: StoredResponse, api_key: str) -> None:
        saving = asyncio.ensure_future(asyncio.to_thread(self.front.store.save, record, api_key))
        try:
            await asyncio.shield(saving)
        except (sqlite3.Error, OSError):
            # As over WebSocket (issue 18): the failed save fails this run only.
            self._call(self.core.persist_failed, run_id, self.loop.time())
        except BaseException:
            self.runs.pop(run_id, None)
            unfinished = self.core.run_cancelled(run_id)
            if unfinished is not None:
                await asyncio.shield(self._undo(unfinished, saving))
            raise
        self._step(run_id)

    async def _undo(self, response_id: str, saving: asyncio.Future[None]) -> None:
        await asyncio.wait([saving])
        await asyncio.to_thread(self.front.store.delete, response_id)

    async def _load(self, action: LoadStored) -> None:
        record = await asyncio.to_thread(self.front.store.load, action.response_id, action.api_key)
        self._call(self.core.stored_loaded, action.ticket, record, self.loop.time())

    async def _load_response(self, action: LoadResponse) -> None:
        record = await asyncio.to_thread(self.front.store.load, action.response_id, action.api_key)
        self._call(self.core.response_loaded, record, self.loop.time())
