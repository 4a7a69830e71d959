"""The asyncio I/O layer of the reference server: the same session, on ``websockets.asyncio``.

``python -m reference_impl serve`` runs this by default (``--io trio`` runs
:mod:`reference_impl.server` instead): under many paced sessions it costs the least CPU per
event of the two (docs/benchmarks.md). It is thin glue around the sans-I/O
:class:`~reference_impl.session.Session`, with no protocol logic of its own:

* the upgrade checks and the limits header are those of the trio layer, from
  :mod:`reference_impl.upgrade`;
* the reader (the connection handler itself) feeds every message to the session;
* what the session sends is written at once, without a task: the frames go to the transport,
  which buffers what the socket does not take (a writer task and a queue cost two task
  switches per event; the session never waits for the socket either way);
* the session's timers and the runs' pauses are event-loop timers (``call_at``), not tasks:
  a paused run is stepped by a callback when its pause is over, so a paced event costs one
  timer callback and one socket write;
* a task only where something must be awaited: saving a stored response and looking one up
  (in a worker thread), and the closing handshake.

When the connection closes the reader returns, the timers are cancelled and every task of
the connection is cancelled: in-flight runs stop where they are and never become continuable
(RWS-LIMIT-10): a stored run cut off after it was persisted is deleted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from reference_impl.cache import ResponseCache
from reference_impl.fault_hooks import drop_pongs
from reference_impl.server import ServerConfig, _url_host
from reference_impl.session import (
    CloseConnection,
    LoadStored,
    Persist,
    RunDone,
    SendText,
    Session,
    StartRun,
    Wait,
)
from reference_impl.store import NoStorage, ResponseStore, StoredResponse
from reference_impl.upgrade import PATH, add_limits_header, check_upgrade

__all__ = ["RunningAsyncioServer", "run_forever", "serve"]


@dataclass(frozen=True)
class RunningAsyncioServer:
    """What :func:`serve` yields: the bound address and the handles."""

    url: str
    port: int
    server: Server
    store: ResponseStore


class _Connection(ServerConnection):
    # The API key the upgrade authenticated; the session is scoped by it (RWS-LIMIT-5).
    api_key: str = ""

    def write_texts(self, texts: list[str]) -> None:
        """Write text messages now, in order, without waiting (RWS-TRANS-5: one event each).

        The frames go to the transport in one write; it buffers what the socket does not take
        at once. Once the connection is closing nothing more is sent, as :meth:`send` would
        refuse it.
        """
        if self.protocol.state is not State.OPEN:
            return
        for text in texts:
            self.protocol.send_text(text.encode())
        self.send_data()

    def send_data(self) -> None:
        # One transport write for everything the protocol has buffered, not one per frame;
        # an empty chunk (half-close at the end of the closing handshake) keeps the base
        # class's handling.
        chunks = self.protocol.data_to_send()
        if b"" not in chunks:
            data = b"".join(chunks)
            if data:
                self.transport.write(data)
            return
        for chunk in chunks:
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                with contextlib.suppress(Exception):
                    self.transport.write_eof()
            else:  # pragma: no cover - TLS transports; this server listens on plain TCP
                self.transport.close()


def _check_request(
    config: ServerConfig, connection: ServerConnection, request: Request
) -> Response | None:
    """Accept or refuse the upgrade before the WebSocket opens (as the trio layer does)."""
    assert isinstance(connection, _Connection)
    outcome = check_upgrade(config.api_keys, config.faults, connection, request)
    if isinstance(outcome, Response):
        return outcome
    connection.api_key = outcome
    return None


class _ConnectionTasks:
    """The timers and tasks of one connection around its session (see the module docstring)."""

    def __init__(self, websocket: _Connection, session: Session, store: ResponseStore) -> None:
        self.websocket = websocket
        self.session = session
        self.store = store
        self.loop = asyncio.get_running_loop()
        # The session's own timer (connection age, idle timeout) and when it is due.
        self.deadline: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        # Every run in flight, with the callback that steps it next; None while its persist
        # task saves it (the task then owns it, see persist).
        self.runs: dict[int, asyncio.Handle | None] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False  # the session asked to close: nothing more is sent
        self.update_timer()

    def start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def perform(self) -> None:
        """Perform the session's pending actions, in order, without blocking."""
        texts: list[str] = []
        for action in self.session.actions():
            match action:
                case SendText(text):
                    if not self.closing:
                        texts.append(text)
                case StartRun(run_id):
                    # Its first step generates the run, after this call has written what the
                    # session sent before it (response.created).
                    self.runs[run_id] = self.loop.call_soon(self.step, run_id)
                case LoadStored():
                    self.start(self.load(action))
                case CloseConnection(code, reason):
                    # What was sent before the close goes first; nothing after it.
                    self.websocket.write_texts(texts)
                    texts = []
                    self.closing = True
                    self.start(self.close(code, reason))
        if texts:
            self.websocket.write_texts(texts)
        self.update_timer()

    def update_timer(self) -> None:
        """Arm the event-loop timer at the session's next deadline (when it moved)."""
        deadline = self.session.next_deadline()
        if deadline == self.deadline:
            return
        self.deadline = deadline
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None if deadline is None else self.loop.call_at(deadline, self.tick)

    def tick(self) -> None:
        self.timer = None
        self.deadline = None  # re-armed by perform, even if the deadline is unchanged
        try:
            self.session.tick(self.loop.time())
            self.perform()
        except Exception as exc:
            self.fail(exc)

    def step(self, run_id: int) -> None:
        """Step one run (a callback: at its start, after each pause, after its save)."""
        try:
            step = self.session.step(run_id, self.loop.time())
            self.perform()
        except Exception as exc:
            self.fail(exc)
            return
        match step:
            case Wait(seconds):
                self.runs[run_id] = self.loop.call_later(seconds, self.step, run_id)
            case Persist(record, api_key):
                self.runs[run_id] = None
                self.start(self.persist(run_id, record, api_key))
            case RunDone():
                del self.runs[run_id]

    def fail(self, exc: Exception) -> None:
        """A timer's callback failed: close the connection as a failing handler would (1011)."""
        self.websocket.logger.error("connection failed", exc_info=exc)
        if not self.closing:
            self.closing = True
            self.start(self.close(1011, ""))

    async def persist(self, run_id: int, record: StoredResponse, api_key: str) -> None:
        # RWS-CACHE-11: durable before the next step sends the terminal event.
        saving = asyncio.ensure_future(asyncio.to_thread(self.store.save, record, api_key))
        try:
            await asyncio.shield(saving)
        except (sqlite3.Error, OSError):
            # Issue 18: a save that fails (a database kept locked, a full disk) fails this
            # run only - response.failed in place of its terminal event - never the connection.
            self.session.persist_failed(run_id)
        except BaseException:
            # Cancelled (the connection closed) or the save failed: the run ends here.
            self.runs.pop(run_id, None)
            unfinished = self.session.run_cancelled(run_id)
            if unfinished is not None:
                # RWS-LIMIT-10: persisted, but its terminal event never went out. Shielded:
                # the task is being cancelled, and the delete must still happen - after the
                # save, which a cancelled await does not stop in its thread.
                await asyncio.shield(self._undo(unfinished, saving))
            raise
        self.step(run_id)

    async def _undo(self, response_id: str, saving: asyncio.Future[None]) -> None:
        await asyncio.wait([saving])
        await asyncio.to_thread(self.store.delete, response_id)

    async def load(self, action: LoadStored) -> None:
        record = await asyncio.to_thread(self.store.load, action.response_id, action.api_key)
        self.session.stored_loaded(action.ticket, record, self.loop.time())
        self.perform()

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.websocket.close(code, reason)

    async def read(self) -> None:
        try:
            while True:
                message = await self.websocket.recv()
                now = self.loop.time()
                if isinstance(message, str):
                    self.session.receive_text(message, now)
                else:
                    self.session.receive_binary(message, now)
                self.perform()
        except ConnectionClosed:
            pass

    async def stop(self) -> None:
        """The connection is gone: cancel the timers, the runs and every task."""
        self.closing = True
        if self.timer is not None:
            self.timer.cancel()
        for run_id, handle in list(self.runs.items()):
            if handle is None:
                continue  # being saved: its persist task ends it
            handle.cancel()
            del self.runs[run_id]
            # RWS-LIMIT-10: a run cut off between two steps is forgotten (and deleted again
            # should it have been persisted).
            unfinished = self.session.run_cancelled(run_id)
            if unfinished is not None:
                await asyncio.to_thread(self.store.delete, unfinished)
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _handle(
    config: ServerConfig,
    store: ResponseStore,
    shared_cache: ResponseCache | None,
    websocket: ServerConnection,
) -> None:
    """Serve one connection: one session, its timers and tasks stopped when the reader returns."""
    assert isinstance(websocket, _Connection)
    if config.faults.active("no-pong"):
        drop_pongs(websocket.protocol)
    session = Session(
        api_key=websocket.api_key,
        now=asyncio.get_running_loop().time(),
        limits=config.limits,
        faults=config.faults,
        cost=config.cost,
        cache=shared_cache,
        multiplex=config.multiplex,
        steering=config.steering,
    )
    tasks = _ConnectionTasks(websocket, session, store)
    try:
        await tasks.read()
    finally:
        # The client is gone (or the session closed the connection): stop everything.
        await tasks.stop()
        # The persist-on-close fault: what it held back is saved only now (RWS-CACHE-11).
        for held in session.held_records():
            await asyncio.shield(asyncio.to_thread(store.save, held.record, held.api_key))


@contextlib.asynccontextmanager
async def serve(config: ServerConfig) -> AsyncIterator[RunningAsyncioServer]:
    """Listen for the duration of the ``async with`` block; yields a RunningAsyncioServer."""
    # D24: a server without a response store keeps nothing beyond the connection.
    store = ResponseStore(config.data_dir) if config.limits.storage == "durable" else NoStorage()
    # shared-cache fault: one cache for every connection, against RWS-CACHE-8.
    shared_cache = ResponseCache() if config.faults.active("shared-cache") else None
    try:
        async with websockets_serve(
            functools.partial(_handle, config, store, shared_cache),
            config.host,
            config.port,
            process_request=functools.partial(_check_request, config),
            process_response=functools.partial(add_limits_header, config.limits),
            # RWS-TRANS-7: messages up to max-message-size; above it, close 1009.
            max_size=config.limits.max_message_size,
            ping_interval=config.ping_interval,
            create_connection=_Connection,
        ) as server:
            port = _bound_port(server)
            url = f"ws://{_url_host(config.host)}:{port}{PATH}"
            yield RunningAsyncioServer(url, port, server, store)
    finally:
        store.close()


async def run_forever(config: ServerConfig, announce: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM, calling ``announce(url)`` once listening (the CLI's).

    As the trio layer: a signal shuts the server down cleanly, connections close with 1001
    ("the server is restarting", RWS-ERR-6), then the database is closed.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with serve(config) as running:
            announce(running.url)
            await stop.wait()
            # Leaving the block closes the listener and every connection with 1001.
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _bound_port(server: Server) -> int:
    for sock in server.sockets:
        port: int = sock.getsockname()[1]
        return port
    raise RuntimeError("the server has no listener")
