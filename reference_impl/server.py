"""The I/O layer of the reference server: thin glue between ``websockets.trio`` and the session.

No protocol logic lives here. The upgrade is checked by :mod:`reference_impl.upgrade` (path,
RFC 6455 upgrade, credentials; shared with the asyncio driver); every accepted connection gets
one :class:`Session` and one nursery, whose tasks are:

* the reader (the connection handler itself): feeds every message to the session;
* the writer: sends the session's messages in order, then closes when the session asks;
* the timer: calls :meth:`Session.tick` at :meth:`Session.next_deadline`;
* one task per run, which steps the run (sleeping and persisting as told);
* one task per storage lookup (hydration), off the event loop.

When the connection closes, the reader returns and the nursery is cancelled: in-flight
runs stop where they are and never become continuable (RWS-LIMIT-10).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import trio
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.trio.server import Server, ServerConnection
from websockets.trio.server import serve as websockets_serve

from reference_impl.cache import ResponseCache
from reference_impl.fault_hooks import drop_pongs
from reference_impl.faults import NO_FAULTS, Faults
from reference_impl.session import (
    DEFAULT_LIMITS,
    CloseConnection,
    CostModel,
    Limits,
    LoadStored,
    Persist,
    RunDone,
    SendText,
    Session,
    StartRun,
    Wait,
)
from reference_impl.store import NoStorage, ResponseStore
from reference_impl.upgrade import LIMITS_HEADER, PATH, add_limits_header, check_upgrade

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEVELOPMENT_KEY",
    "LIMITS_HEADER",
    "PATH",
    "RunningServer",
    "ServerConfig",
    "serve",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: The key accepted when no ``--api-key`` is given. For local development only.
DEVELOPMENT_KEY = "rws-dev-key"
# The most messages the writer sends in one socket write.
_BATCH = 256
# How many scheduling rounds a new run waits for the writer to send its response.created.
_WRITER_ROUNDS = 8


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``responses-ws serve`` can set."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_keys: frozenset[str] = frozenset({DEVELOPMENT_KEY})
    data_dir: Path | None = None  # None: responses are stored in memory only
    limits: Limits = DEFAULT_LIMITS
    cost: CostModel = field(default_factory=CostModel)
    faults: Faults = NO_FAULTS
    # Whether the server implements the multiplex profile (lanes); without it a stream_id is
    # refused (RWS-LANE-12).
    multiplex: bool = True
    # Whether the server implements the steering profile; without it every response.steer
    # is refused with steering_not_supported (RWS-STEER-1).
    steering: bool = True
    # Keepalive pings from the server (websockets' default); None turns them off.
    ping_interval: float | None = 20.0


@dataclass(frozen=True)
class RunningServer:
    """What :func:`serve` hands to ``nursery.start``: the bound address and the handles."""

    url: str
    port: int
    server: Server
    store: ResponseStore

    async def aclose(self) -> None:
        """Close every connection with 1001 and stop listening."""
        await self.server.aclose()


class _Connection(ServerConnection):
    # The API key the upgrade authenticated; the session is scoped by it (RWS-LIMIT-5).
    api_key: str = ""

    async def send_batch(self, texts: list[str]) -> None:
        """Send several text messages with one write to the socket.

        This is the pattern ``send_context`` documents for writing from user code; it
        saves the per-message lock and write of :meth:`send` (RWS-TRANS-5: still one
        event per text message).
        """
        async with self.send_context():
            for text in texts:
                self.protocol.send_text(text.encode())

    async def send_data(self) -> None:
        # One send_all for everything the protocol has buffered, not one per frame.
        async with self.send_lock:
            chunks = self.protocol.data_to_send()
            data = b"".join(chunks)
            if data:
                await self.stream.send_all(data)
            if b"" in chunks:
                # An empty chunk asks to half-close the TCP connection (end of the closing
                # handshake), as the base class does.
                if isinstance(self.stream, trio.abc.HalfCloseableStream):
                    with contextlib.suppress(Exception):
                        await self.stream.send_eof()
                else:  # pragma: no cover - TLS streams; this server listens on plain TCP
                    await self.stream.aclose()


def _process_request(
    config: ServerConfig, connection: ServerConnection, request: Request
) -> Response | None:
    """Accept or refuse the upgrade before the WebSocket opens."""
    assert isinstance(connection, _Connection)
    outcome = check_upgrade(config.api_keys, config.faults, connection, request)
    if isinstance(outcome, Response):
        return outcome
    connection.api_key = outcome
    return None


class _ConnectionTasks:
    """The tasks of one connection around its session (see the module docstring)."""

    def __init__(
        self,
        websocket: _Connection,
        session: Session,
        store: ResponseStore,
        nursery: trio.Nursery,
    ) -> None:
        self.websocket = websocket
        self.session = session
        self.store = store
        self.nursery = nursery
        self.outbox, self.outbox_reader = trio.open_memory_channel[str | CloseConnection](math.inf)
        self.deadline: float | None = session.next_deadline()
        self.deadline_changed = trio.Event()
        self.writing = False  # a batch is being written

    def perform(self) -> None:
        """Perform the session's pending actions, in order, without blocking."""
        for action in self.session.actions():
            match action:
                case SendText(text):
                    self.outbox.send_nowait(text)
                case StartRun(run_id):
                    self.nursery.start_soon(self.drive_run, run_id)
                case LoadStored():
                    self.nursery.start_soon(self.load, action)
                case CloseConnection():
                    self.outbox.send_nowait(action)
        deadline = self.session.next_deadline()
        if deadline != self.deadline:
            self.deadline = deadline
            self.deadline_changed.set()

    async def read(self) -> None:
        try:
            while True:
                message = await self.websocket.recv()
                now = trio.current_time()
                if isinstance(message, str):
                    self.session.receive_text(message, now)
                else:
                    self.session.receive_binary(message, now)
                self.perform()
        except ConnectionClosed:
            pass

    async def write(self) -> None:
        async for first in self.outbox_reader:
            # Send everything already queued in one go: one write to the socket for a burst
            # of events instead of one per event. Order is kept; a close comes last.
            batch: list[str] = []
            close: CloseConnection | None = None
            item: str | CloseConnection = first
            while True:
                if isinstance(item, CloseConnection):
                    close = item
                    break
                batch.append(item)
                if len(batch) >= _BATCH:
                    break
                try:
                    item = self.outbox_reader.receive_nowait()
                except trio.WouldBlock:
                    break
            try:
                if batch:
                    self.writing = True
                    await self.websocket.send_batch(batch)
                    self.writing = False
                if close is not None:
                    await self.websocket.aclose(close.code, close.reason)
                    return
            except ConnectionClosed:
                return

    async def time(self) -> None:
        while True:
            with trio.move_on_at(math.inf if self.deadline is None else self.deadline):
                await self.deadline_changed.wait()
            self.deadline_changed = trio.Event()
            if self.deadline is not None and trio.current_time() >= self.deadline:
                self.session.tick(trio.current_time())
                self.perform()

    async def let_writer_send(self) -> None:
        """Yield until the writer has written what is queued (at most a few scheduling rounds).

        The session sent response.created as the run started; the writer should put it on
        the socket before the run's first step generates the rest. trio runs ready tasks in
        random order, and the writer passes a checkpoint or two before it writes.
        """
        for _ in range(_WRITER_ROUNDS):
            await trio.lowlevel.checkpoint()
            if not self.writing and not self.outbox_reader.statistics().current_buffer_used:
                return

    async def drive_run(self, run_id: int) -> None:
        try:
            await self.let_writer_send()
            while True:
                step = self.session.step(run_id, trio.current_time())
                self.perform()
                match step:
                    case Wait(seconds):
                        await trio.sleep(seconds)
                    case Persist(record, api_key):
                        # RWS-CACHE-11: durable before the next step sends the terminal event.
                        await trio.to_thread.run_sync(self.store.save, record, api_key)
                    case RunDone():
                        return
        finally:
            unfinished = self.session.run_cancelled(run_id)
            if unfinished is not None:
                # RWS-LIMIT-10: persisted, but its terminal event never went out.
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self.store.delete, unfinished)

    async def load(self, action: LoadStored) -> None:
        record = await trio.to_thread.run_sync(self.store.load, action.response_id, action.api_key)
        self.session.stored_loaded(action.ticket, record, trio.current_time())
        self.perform()


async def _handle(
    config: ServerConfig,
    store: ResponseStore,
    shared_cache: ResponseCache | None,
    websocket: ServerConnection,
) -> None:
    """Serve one connection: one session, one nursery."""
    assert isinstance(websocket, _Connection)
    if config.faults.active("no-pong"):
        drop_pongs(websocket.protocol)
    session = Session(
        api_key=websocket.api_key,
        now=trio.current_time(),
        limits=config.limits,
        faults=config.faults,
        cost=config.cost,
        cache=shared_cache,
        multiplex=config.multiplex,
        steering=config.steering,
    )
    async with trio.open_nursery() as nursery:
        tasks = _ConnectionTasks(websocket, session, store, nursery)
        nursery.start_soon(tasks.write)
        nursery.start_soon(tasks.time)
        await tasks.read()
        # The client is gone (or the session closed the connection): stop everything.
        nursery.cancel_scope.cancel()
    # The persist-on-close fault: what it held back is saved only now (RWS-CACHE-11 broken).
    with trio.CancelScope(shield=True):
        for held in session.held_records():
            await trio.to_thread.run_sync(store.save, held.record, held.api_key)


async def serve(
    config: ServerConfig = ServerConfig(),
    *,
    task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the reference server until cancelled; for ``nursery.start``."""
    # D24: a server without a response store keeps nothing beyond the connection.
    store = ResponseStore(config.data_dir) if config.limits.storage == "durable" else NoStorage()
    # shared-cache fault: one cache for every connection, against RWS-CACHE-8.
    shared_cache = ResponseCache() if config.faults.active("shared-cache") else None
    try:
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(
                functools.partial(
                    websockets_serve,
                    functools.partial(_handle, config, store, shared_cache),
                    config.port,
                    host=config.host,
                    process_request=functools.partial(_process_request, config),
                    process_response=functools.partial(add_limits_header, config.limits),
                    # RWS-TRANS-7: messages up to max-message-size; above it, close 1009.
                    max_size=config.limits.max_message_size,
                    ping_interval=config.ping_interval,
                    create_connection=_Connection,
                )
            )
            port = _bound_port(server.listeners)
            task_status.started(
                RunningServer(f"ws://{_url_host(config.host)}:{port}{PATH}", port, server, store)
            )
    finally:
        store.close()


def _bound_port(listeners: Iterable[trio.SocketListener]) -> int:
    for listener in listeners:
        port: int = listener.socket.getsockname()[1]
        return port
    raise RuntimeError("the server has no listener")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
