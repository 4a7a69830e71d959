"""The trio I/O layer of the reference server: thin glue between ``websockets.trio`` and a session.

``python -m reference_impl serve --io trio`` runs it (the default driver is the asyncio one,
:mod:`reference_impl.server_asyncio`, which costs less CPU per event: docs/benchmarks.md). No
protocol logic lives here. The upgrade is checked by :mod:`reference_impl.upgrade` (path,
RFC 6455 upgrade, credentials; shared with the asyncio driver); every accepted connection gets
one :class:`Session` and one nursery. What drives the session:

* the reader (the connection handler itself) feeds every message to the session;
* what the session sends is written at once, from whichever task or timer made it: the frames
  go straight to the socket when it takes them, and only what it does not take waits for a
  flush task (a writer task woken for every event cost two task switches and a checkpoint
  per event);
* the runs' pauses and the session's timers are entries in one heap for the whole server,
  run by one task (:class:`_Timers`): a paced event costs one heap entry and, shared with
  every other timer due at that moment, one wake-up - not one task and one sleep per run;
* a task only where something must be awaited: saving a stored response and looking one up
  (in a worker thread), a flush the socket did not take at once, and the closing handshake.

When the connection closes, the reader returns, the connection's timers are cancelled and its
nursery is cancelled: in-flight runs stop where they are and never become continuable
(RWS-LIMIT-10).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import math
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import trio
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
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
from reference_impl.store import NoStorage, ResponseStore, StoredResponse
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
# Cancelled timers are dropped from the heap once they are this many and half of it.
_COMPACT_ABOVE = 64


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


class _Timer:
    """One entry of :class:`_Timers`: a callback at a time, until cancelled."""

    __slots__ = ("callback", "cancelled", "on_error", "timers")

    def __init__(
        self,
        timers: _Timers,
        callback: Callable[[], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        self.timers = timers
        self.callback = callback
        self.on_error = on_error
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback (if it has not run yet)."""
        if not self.cancelled:
            self.cancelled = True
            self.timers.cancelled += 1


class _Timers:
    """Every connection's timers in one heap, run by one task (:meth:`run`).

    trio has no timer callbacks: a sleep is a task waiting in a cancel scope, and a paused run
    woken by its own sleep costs a task switch and a cancel scope per event. Here a pause is a
    heap entry; the task sleeps until the earliest one and runs every callback due then, in
    order, without a checkpoint. A callback must not block; an exception it raises goes to its
    ``on_error`` (the connection's), never into this task.
    """

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, _Timer]] = []
        self.order = itertools.count()  # ties run in the order they were set
        self.scope: trio.CancelScope | None = None
        self.cancelled = 0

    def call_at(
        self, when: float, callback: Callable[[], None], on_error: Callable[[Exception], None]
    ) -> _Timer:
        """Run ``callback()`` once ``trio.current_time()`` reaches ``when``."""
        timer = _Timer(self, callback, on_error)
        heapq.heappush(self.heap, (when, next(self.order), timer))
        if self.scope is not None and when < self.scope.deadline:
            self.scope.deadline = when
        if self.cancelled > _COMPACT_ABOVE and self.cancelled * 2 > len(self.heap):
            self.heap = [entry for entry in self.heap if not entry[2].cancelled]
            heapq.heapify(self.heap)
            self.cancelled = 0
        return timer

    async def run(self) -> None:
        """Run the timers as they come due, until cancelled."""
        while True:
            with trio.CancelScope(deadline=self.heap[0][0] if self.heap else math.inf) as scope:
                self.scope = scope
                await trio.sleep_forever()
            self.scope = None
            now = trio.current_time()
            while self.heap and self.heap[0][0] <= now:
                timer = heapq.heappop(self.heap)[2]
                if timer.cancelled:
                    self.cancelled -= 1
                    continue
                timer.cancelled = True  # it has run: a late cancel() changes nothing
                try:
                    timer.callback()
                except Exception as exc:
                    timer.on_error(exc)


class _Connection(ServerConnection):
    # The API key the upgrade authenticated; the session is scoped by it (RWS-LIMIT-5).
    api_key: str = ""
    # Bytes the socket did not take at once; the next send_data sends them first.
    leftover: bytes = b""

    def queue_texts(self, texts: list[str]) -> bool:
        """Frame text messages for sending (RWS-TRANS-5: one event, one message).

        False, and nothing queued, once the connection is closing: :meth:`send` would
        refuse them as well.
        """
        if self.protocol.state is not State.OPEN:
            return False
        for text in texts:
            self.protocol.send_text(text.encode())
        return True

    def write_now(self) -> bool:
        """Write what is queued to the socket without waiting; True if it all went.

        Only when no send is under way (the lock is free and nothing is left over), so that
        bytes leave in order; what the socket does not take stays for :meth:`send_data`.
        While the connection is open the protocol has queued no end-of-stream marker.
        """
        if self.leftover or self.send_lock.locked() or self.protocol.state is not State.OPEN:
            return False
        fd = self._fileno()
        if fd < 0:
            return False
        data = b"".join(self.protocol.data_to_send())
        try:
            sent = os.write(fd, data)
        except OSError:  # BlockingIOError: the buffer is full; else send_data reports it
            sent = 0
        if sent < len(data):
            self.leftover = data[sent:]
            return False
        return True

    def _fileno(self) -> int:
        # The socket's descriptor for a direct write: POSIX only, plain TCP only (a direct
        # write to a TLS stream would bypass its encryption); -1 means "await send_data".
        if os.name != "posix" or not isinstance(self.stream, trio.SocketStream):
            return -1
        return self.stream.socket.fileno()

    async def send_data(self) -> None:
        # One send_all for everything not sent yet - what was left over first, then what the
        # protocol has buffered - not one per frame.
        async with self.send_lock:
            chunks = self.protocol.data_to_send()
            data = self.leftover + b"".join(chunks)
            self.leftover = b""
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
    """The timers and tasks of one connection around its session (see the module docstring)."""

    def __init__(
        self,
        websocket: _Connection,
        session: Session,
        store: ResponseStore,
        nursery: trio.Nursery,
        timers: _Timers,
    ) -> None:
        self.websocket = websocket
        self.session = session
        self.store = store
        self.nursery = nursery
        self.timers = timers
        # The session's own timer (connection age, idle timeout) and when it is due.
        self.deadline: float | None = None
        self.timer: _Timer | None = None
        # Every run in flight, with the timer that steps it next; None while its persist
        # task saves it (the task then owns it, see persist).
        self.runs: dict[int, _Timer | None] = {}
        self.closing = False  # the session asked to close: nothing more is sent
        self.flushing = False  # a flush task is under way
        self.unflushed = False  # something was queued since the flush task last sent
        self.failure: Exception | None = None
        self.update_timer()

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
                    self.runs[run_id] = self.timers.call_at(
                        trio.current_time(), functools.partial(self.step, run_id), self.fail
                    )
                case LoadStored():
                    self.nursery.start_soon(self.load, action)
                case CloseConnection(code, reason):
                    # What was sent before the close goes first; nothing after it.
                    self.write(texts)
                    texts = []
                    self.closing = True
                    self.nursery.start_soon(self.close, code, reason)
        if texts:
            self.write(texts)
        self.update_timer()

    def write(self, texts: list[str]) -> None:
        """Send text messages in order: at once if the socket takes them, else by a flush."""
        if not self.websocket.queue_texts(texts) or self.websocket.write_now():
            return
        self.unflushed = True
        if not self.flushing:
            self.flushing = True
            self.nursery.start_soon(self.flush)

    async def flush(self) -> None:
        try:
            while self.unflushed:
                self.unflushed = False
                await self.websocket.send_data()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client is gone: the reader sees the connection closed
        finally:
            self.flushing = False

    def update_timer(self) -> None:
        """Set the connection's timer at the session's next deadline (when it moved)."""
        deadline = self.session.next_deadline()
        if deadline == self.deadline:
            return
        self.deadline = deadline
        if self.timer is not None:
            self.timer.cancel()
        self.timer = (
            None if deadline is None else self.timers.call_at(deadline, self.tick, self.fail)
        )

    def tick(self) -> None:
        self.timer = None
        self.deadline = None  # set again by perform, even if the deadline is unchanged
        self.session.tick(trio.current_time())
        self.perform()

    def step(self, run_id: int) -> None:
        """Step one run (from a timer: at its start and after each pause; after its save)."""
        step = self.session.step(run_id, trio.current_time())
        self.perform()
        match step:
            case Wait(seconds):
                self.runs[run_id] = self.timers.call_at(
                    trio.current_time() + seconds, functools.partial(self.step, run_id), self.fail
                )
            case Persist(record, api_key):
                self.runs[run_id] = None
                self.nursery.start_soon(self.persist, run_id, record, api_key)
            case RunDone():
                del self.runs[run_id]

    def fail(self, exc: Exception) -> None:
        """A timer's callback failed: end the connection as a failing task would have."""
        if self.failure is None:
            self.failure = exc
        self.nursery.cancel_scope.cancel()

    async def persist(self, run_id: int, record: StoredResponse, api_key: str) -> None:
        try:
            # RWS-CACHE-11: durable before the next step sends the terminal event.
            await trio.to_thread.run_sync(self.store.save, record, api_key)
        except (sqlite3.Error, OSError):
            # Issue 18: a save that fails (a database kept locked, a full disk) fails this
            # run only - response.failed in place of its terminal event - never the connection.
            self.session.persist_failed(run_id)
        except BaseException:
            # Cancelled (the connection closed; the save has finished) or the save failed.
            self.runs.pop(run_id, None)
            unfinished = self.session.run_cancelled(run_id)
            if unfinished is not None:
                # RWS-LIMIT-10: persisted, but its terminal event never went out.
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self.store.delete, unfinished)
            raise
        self.step(run_id)

    async def load(self, action: LoadStored) -> None:
        record = await trio.to_thread.run_sync(self.store.load, action.response_id, action.api_key)
        self.session.stored_loaded(action.ticket, record, trio.current_time())
        self.perform()

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.websocket.aclose(code, reason)

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

    def stop(self) -> list[str]:
        """The connection is gone: cancel its timers and forget the runs they would step.

        Returns the response ids to delete from storage (RWS-LIMIT-10); a run being saved
        is left to its persist task, which the nursery's cancellation ends.
        """
        self.closing = True
        if self.timer is not None:
            self.timer.cancel()
        unfinished: list[str] = []
        for run_id, timer in list(self.runs.items()):
            if timer is None:
                continue
            timer.cancel()
            del self.runs[run_id]
            response_id = self.session.run_cancelled(run_id)
            if response_id is not None:
                unfinished.append(response_id)
        return unfinished


async def _handle(
    config: ServerConfig,
    store: ResponseStore,
    shared_cache: ResponseCache | None,
    timers: _Timers,
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
        tasks = _ConnectionTasks(websocket, session, store, nursery, timers)
        try:
            await tasks.read()
        finally:
            # The client is gone, the session closed the connection or a timer's callback
            # failed: stop everything.
            unfinished = tasks.stop()
            nursery.cancel_scope.cancel()
    with trio.CancelScope(shield=True):
        # RWS-LIMIT-10: a run cut off after it was persisted is deleted again.
        for response_id in unfinished:
            await trio.to_thread.run_sync(store.delete, response_id)
        # The persist-on-close fault: what it held back is saved only now (RWS-CACHE-11
        # broken).
        for held in session.held_records():
            await trio.to_thread.run_sync(store.save, held.record, held.api_key)
    if tasks.failure is not None:
        raise tasks.failure


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
    timers = _Timers()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(timers.run)
            server: Server = await nursery.start(
                functools.partial(
                    websockets_serve,
                    functools.partial(_handle, config, store, shared_cache, timers),
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
