"""The asyncio I/O layer of the reference server: the same session, on ``websockets.asyncio``.

``python -m reference_impl serve --io asyncio`` runs this instead of :mod:`reference_impl.server`
(trio). It exists for throughput: on the 2-core benchmark machine the trio glue streams about
10-14k events/s on one connection, asyncio several times more (docs/benchmarks.md). It is the
same thin glue around the same sans-I/O :class:`~reference_impl.session.Session`, with the same
responsibilities and no protocol logic of its own:

* the upgrade checks and the limits header are those of the trio layer, from
  :mod:`reference_impl.upgrade`;
* the reader (the connection handler itself) feeds every message to the session;
* the writer sends the session's messages in order, then closes when the session asks;
* the timer calls :meth:`Session.tick` at :meth:`Session.next_deadline`;
* one task per run steps it (sleeping and persisting as told);
* one task per storage lookup (hydration), in a worker thread.

When the connection closes the reader returns and every task of the connection is cancelled:
in-flight runs stop where they are and never become continuable (RWS-LIMIT-10): a stored
run cut off after it was persisted is deleted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

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
from reference_impl.store import NoStorage, ResponseStore
from reference_impl.upgrade import PATH, add_limits_header, check_upgrade

__all__ = ["RunningAsyncioServer", "run_forever", "serve"]


@dataclass(frozen=True)
class RunningAsyncioServer:
    """What :func:`serve` yields: the bound address and the handles."""

    url: str
    port: int
    server: Server
    store: ResponseStore


# The most messages the writer sends in one socket write (as the trio layer).
_BATCH = 256


class _Connection(ServerConnection):
    # The API key the upgrade authenticated; the session is scoped by it (RWS-LIMIT-5).
    api_key: str = ""

    async def send_batch(self, texts: list[str]) -> None:
        """Send several text messages with one write to the transport.

        The pattern ``send_context`` documents for writing from user code; it saves the
        per-message lock and write of :meth:`send` (RWS-TRANS-5: still one event per text
        message).
        """
        async with self.send_context():
            for text in texts:
                self.protocol.send_text(text.encode())

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
    """The tasks of one connection around its session (see the module docstring)."""

    def __init__(self, websocket: _Connection, session: Session, store: ResponseStore) -> None:
        self.websocket = websocket
        self.session = session
        self.store = store
        self.loop = asyncio.get_running_loop()
        self.outbox: asyncio.Queue[str | CloseConnection] = asyncio.Queue()
        self.deadline: float | None = session.next_deadline()
        self.deadline_changed = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel_all(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def perform(self) -> None:
        """Perform the session's pending actions, in order, without blocking."""
        for action in self.session.actions():
            match action:
                case SendText(text):
                    self.outbox.put_nowait(text)
                case StartRun(run_id):
                    self.start(self.drive_run(run_id))
                case LoadStored():
                    self.start(self.load(action))
                case CloseConnection():
                    self.outbox.put_nowait(action)
        deadline = self.session.next_deadline()
        if deadline != self.deadline:
            self.deadline = deadline
            self.deadline_changed.set()

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

    async def write(self) -> None:
        while True:
            # Send everything already queued in one go: one write to the socket for a burst
            # of events instead of one per event. Order is kept; a close comes last.
            item = await self.outbox.get()
            batch: list[str] = []
            close: CloseConnection | None = None
            while True:
                if isinstance(item, CloseConnection):
                    close = item
                    break
                batch.append(item)
                if len(batch) >= _BATCH or self.outbox.empty():
                    break
                item = self.outbox.get_nowait()
            try:
                if batch:
                    await self.websocket.send_batch(batch)
                if close is not None:
                    await self.websocket.close(close.code, close.reason)
                    return
            except ConnectionClosed:
                return

    async def time(self) -> None:
        while True:
            when = math.inf if self.deadline is None else self.deadline
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(None if when == math.inf else when):
                    await self.deadline_changed.wait()
            self.deadline_changed = asyncio.Event()
            if self.deadline is not None and self.loop.time() >= self.deadline:
                self.session.tick(self.loop.time())
                self.perform()

    async def drive_run(self, run_id: int) -> None:
        saving: asyncio.Future[None] | None = None
        try:
            # The session sent response.created as the run started; let the writer take it
            # before the first step generates the rest of the run.
            await asyncio.sleep(0)
            while True:
                step = self.session.step(run_id, self.loop.time())
                self.perform()
                match step:
                    case Wait(seconds):
                        await asyncio.sleep(seconds)
                    case Persist(record, api_key):
                        # RWS-CACHE-11: durable before the next step sends the terminal event.
                        saving = asyncio.ensure_future(
                            asyncio.to_thread(self.store.save, record, api_key)
                        )
                        await asyncio.shield(saving)
                    case RunDone():
                        return
        finally:
            unfinished = self.session.run_cancelled(run_id)
            if unfinished is not None:
                # RWS-LIMIT-10: persisted, but its terminal event never went out. Shielded:
                # the task is being cancelled, and the delete must still happen - after the
                # save, which a cancelled await does not stop in its thread.
                await asyncio.shield(self._undo(unfinished, saving))

    async def _undo(self, response_id: str, saving: asyncio.Future[None] | None) -> None:
        if saving is not None:
            await asyncio.wait([saving])
        await asyncio.to_thread(self.store.delete, response_id)

    async def load(self, action: LoadStored) -> None:
        record = await asyncio.to_thread(self.store.load, action.response_id, action.api_key)
        self.session.stored_loaded(action.ticket, record, self.loop.time())
        self.perform()


async def _handle(
    config: ServerConfig,
    store: ResponseStore,
    shared_cache: ResponseCache | None,
    websocket: ServerConnection,
) -> None:
    """Serve one connection: one session, its tasks cancelled when the reader returns."""
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
    tasks.start(tasks.write())
    tasks.start(tasks.time())
    try:
        await tasks.read()
    finally:
        # The client is gone (or the session closed the connection): stop everything.
        await tasks.cancel_all()
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
