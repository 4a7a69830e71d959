"""The HTTP front of the trio driver: one port for WebSocket mode and the HTTP API.

The trio driver's listeners accept here, not in ``websockets.trio``: :class:`TrioFront` reads
each connection's first request with the sans-I/O
:class:`~reference_impl.http_routes.HttpConnection`. An upgrade (or any other ``GET`` but
``GET /v1/responses/{id}``) goes to the WebSocket server through :class:`HandoffListener`, the
listener it serves, as a :class:`ReplayStream` that gives back the bytes already read before
reading on; ``POST /v1/responses`` and ``GET /v1/responses/{id}`` are served here (spec
section 13).

Per HTTP connection: the reader (the handler itself), one writer task that sends what the
front produced in order, a task per run (its pauses are sleeps: an HTTP connection carries one
run at a time) and a task per storage call. A client that goes away cancels its run
(RWS-LIMIT-10: a run cut off after it was persisted is deleted again).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

import trio

from reference_impl.actions import LoadStored, Persist, RunDone, StartRun, Wait
from reference_impl.http_routes import (
    CloseTransport,
    HandOff,
    HttpConnection,
    HttpSettings,
    LoadResponse,
    SendBytes,
)
from reference_impl.store import ResponseStore

__all__ = ["HandoffListener", "ReplayStream", "TrioFront"]

_READ = 64 * 1024


class ReplayStream(trio.abc.HalfCloseableStream):
    """A TCP stream that first gives back the bytes the front already read from it."""

    def __init__(self, stream: trio.SocketStream, replay: bytes) -> None:
        self.inner = stream
        self._replay = replay
        self.closed = trio.Event()

    @property
    def socket(self) -> trio.socket.SocketType:
        """The TCP socket (for its addresses, and for a driver that writes to it directly)."""
        return self.inner.socket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._replay:
            size = len(self._replay) if max_bytes is None else max_bytes
            data, self._replay = self._replay[:size], self._replay[size:]
            await trio.lowlevel.checkpoint()
            return data
        return await self.inner.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.closed.set()


class HandoffListener(trio.abc.Listener[trio.abc.Stream]):
    """What the WebSocket server listens on: the connections the front hands it."""

    def __init__(self, socket: trio.socket.SocketType) -> None:
        # websockets names the listener's socket in its log; the driver reads its port.
        self.socket = socket
        self.send_channel, self.receive_channel = trio.open_memory_channel[trio.abc.Stream](0)

    async def accept(self) -> trio.abc.Stream:
        try:
            return await self.receive_channel.receive()
        except trio.EndOfChannel:
            raise trio.ClosedResourceError from None

    async def aclose(self) -> None:
        await self.receive_channel.aclose()
        await trio.lowlevel.checkpoint()


class TrioFront:
    """The HTTP side of one trio server: accepts every connection first."""

    def __init__(
        self,
        settings: HttpSettings,
        store: ResponseStore,
        listeners: Sequence[trio.SocketListener],
    ) -> None:
        self.settings = settings
        self.store = store
        self.listeners = list(listeners)
        self.handoff = HandoffListener(self.listeners[0].socket)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept connections until cancelled (for ``nursery.start``)."""
        async with trio.open_nursery() as nursery:
            for listener in self.listeners:
                nursery.start_soon(self._accept, listener, nursery)
            task_status.started()

    async def _accept(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError:
                    # Out of descriptors or a connection reset before accept: try again.
                    await trio.sleep(0.01)
                    continue
                nursery.start_soon(self._connection, stream)

    async def _connection(self, stream: trio.SocketStream) -> None:
        connection = _FrontConnection(self, stream)
        try:
            await connection.run()
        finally:
            if not connection.handed_off:
                await trio.aclose_forcefully(stream)


class _FrontConnection:
    """One accepted TCP connection of the front."""

    def __init__(self, front: TrioFront, stream: trio.SocketStream) -> None:
        self.front = front
        self.stream = stream
        self.core = HttpConnection(front.settings)
        self.pending = bytearray()  # what the writer sends next
        self.wake = trio.Event()  # the writer has something to do
        self.changed = trio.Event()  # the front's state changed: the reader looks again
        self.closing = False
        self.handed_off = False
        self.handoff: bytes | None = None

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._writer)
            await self._reader()
            if self.handoff is not None:
                nursery.cancel_scope.cancel()  # nothing was written: the writer is idle
            else:
                # The writer sends what is left, then ends; so do the runs (none is left).
                self.closing = True
                self.wake.set()
        if self.handoff is not None:
            # RWS-TRANS-1: the WebSocket server gets the connection as it arrived; this
            # handler lives as long as the connection, so the stream stays open.
            replay = ReplayStream(self.stream, self.handoff)
            self.handed_off = True
            try:
                await self.front.handoff.send_channel.send(replay)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await replay.aclose()  # the WebSocket server has stopped
                return
            await replay.closed.wait()

    async def _reader(self) -> None:
        while not self.core.closed:
            if not self.core.wants_data:
                # While a request is answered the next one waits unread (bounded).
                await self.changed.wait()
                self.changed = trio.Event()
                continue
            try:
                data = await self.stream.receive_some(_READ)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            self.core.receive_data(data, trio.current_time())
            self.perform()
            if not data:
                return

    async def _writer(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake = trio.Event()
                if self.pending:
                    data = bytes(self.pending)
                    self.pending.clear()
                    await self.stream.send_all(data)
                if self.closing and not self.pending:
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The client is gone: stop the runs (each forgets itself as it is cancelled).
            self.nursery.cancel_scope.cancel()

    def perform(self) -> None:
        """Do what the front asked for, without blocking."""
        for action in self.core.actions():
            match action:
                case SendBytes(data):
                    self.pending += data
                    self.wake.set()
                case HandOff(data):
                    self.handoff = data
                case StartRun(run_id):
                    self.nursery.start_soon(self._run, run_id)
                case LoadStored():
                    self.nursery.start_soon(self._load, action)
                case LoadResponse():
                    self.nursery.start_soon(self._load_response, action)
                case CloseTransport():
                    self.closing = True
                    self.wake.set()
        self.changed.set()

    async def _run(self, run_id: int) -> None:
        try:
            while True:
                step = self.core.step(run_id, trio.current_time())
                self.perform()
                match step:
                    case Wait(seconds):
                        await trio.sleep(seconds)
                    case Persist(record, api_key):
                        # RWS-CACHE-11: durable before the next step sends the terminal event.
                        try:
                            await trio.to_thread.run_sync(self.front.store.save, record, api_key)
                        except (sqlite3.Error, OSError):
                            self.core.persist_failed(run_id, trio.current_time())
                            self.perform()
                    case RunDone():
                        return
        except BaseException:
            # Cancelled (the client went away): RWS-LIMIT-10, a persisted run is deleted.
            unfinished = self.core.run_cancelled(run_id)
            if unfinished is not None:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self.front.store.delete, unfinished)
            raise

    async def _load(self, action: LoadStored) -> None:
        load = functools.partial(self.front.store.load, action.response_id, action.api_key)
        record = await trio.to_thread.run_sync(load)
        self.core.stored_loaded(action.ticket, record, trio.current_time())
        self.perform()

    async def _load_response(self, action: LoadResponse) -> None:
        load = functools.partial(self.front.store.load, action.response_id, action.api_key)
        record = await trio.to_thread.run_sync(load)
        self.core.response_loaded(record, trio.current_time())
        self.perform()
