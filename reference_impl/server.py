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
  run by one task (:class:`Timers`): a paced event costs one heap entry and, shared with
  every other timer due at that moment, one wake-up - not one task and one sleep per run;
* a task only where something must be awaited: saving a stored response and looking one up
  (in a worker thread), a flush the socket did not take at once, and the closing handshake;
* backpressure (RWS-LIMIT-13): while a flush is under way, a run due for a step is parked
  instead and the reader reads no further message; the flush sends in chunks, and a watch
  closes the connection with 1011 once no chunk has gone for the write timeout; when the
  flush is done, the parked runs are stepped again. A step sends at most about 256 KiB, so
  what waits for the socket stays bounded;
* a message of at least THREAD_CHARACTERS is handed to the session in a worker thread (one at
  a time for the whole server), so that other connections are served meanwhile; until it
  returns, the connection's timers and runs leave the session alone.

When the connection closes, the reader returns, the connection's timers are cancelled and its
nursery is cancelled: in-flight runs stop where they are and never become continuable
(RWS-LIMIT-10).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import trio
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.trio.server import Server, ServerConnection
from websockets.trio.server import serve as websockets_serve

from reference_impl.cache import ResponseCache
from reference_impl.fault_hooks import drop_pongs
from reference_impl.faults import NO_FAULTS, Faults
from reference_impl.http_front_trio import ReplayStream, TrioFront
from reference_impl.http_routes import http_settings
from reference_impl.limits import THREAD_CHARACTERS
from reference_impl.memory import TrimScheduler, forget_parser_failure
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
from reference_impl.trio_timers import Timer, Timers
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
# Frames websockets reads ahead of the session (its max_queue; its default is 16).
_READ_AHEAD = 4
# What one send of a flush hands the socket at most (bytes): the write-timeout watch sees the
# client's progress chunk by chunk.
_SEND_CHUNK = 64 * 1024


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
    # How long a close waits for the client's close frame before the TCP connection is cut
    # (websockets' default); a client that reads nothing never sends it (RWS-LIMIT-13).
    close_timeout: float = 10.0


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
    # Bytes the socket did not take at once; the next send_data sends them first.
    leftover: bytes = b""
    # When the socket last took a chunk of a send_data (trio's clock): the write-timeout
    # watch tells a client that reads slowly from one that reads nothing (RWS-LIMIT-13).
    sent_at: float = 0.0

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
        # A connection the HTTP front handed over (spec section 13) is written to directly too.
        stream = self.stream.inner if isinstance(self.stream, ReplayStream) else self.stream
        if os.name != "posix" or not isinstance(stream, trio.SocketStream):
            return -1
        return stream.socket.fileno()

    async def send_data(self) -> None:
        # Everything not sent yet - what was left over first, then what the protocol has
        # buffered - in chunks of _SEND_CHUNK, not one send per frame; sent_at moves with
        # every chunk the socket takes.
        async with self.send_lock:
            chunks = self.protocol.data_to_send()
            data = self.leftover + b"".join(chunks)
            self.leftover = b""
            with memoryview(data) as view:
                for start in range(0, len(view), _SEND_CHUNK):
                    await self.stream.send_all(view[start : start + _SEND_CHUNK])
                    self.sent_at = trio.current_time()
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
        shared: _Shared,
        nursery: trio.Nursery,
        write_timeout: float | None,
    ) -> None:
        self.websocket = websocket
        self.session = session
        self.store = shared.store
        self.nursery = nursery
        self.timers = shared.timers
        self.large = shared.large
        self.write_timeout = write_timeout
        # The session's own timer (connection age, idle timeout) and when it is due.
        self.deadline: float | None = None
        self.timer: Timer | None = None
        # Every run in flight, with the timer that steps it next; None while its persist
        # task saves it (the task then owns it, see persist).
        self.runs: dict[int, Timer | None] = {}
        # Runs due for a step that wait for the flush (or for the session to come back from a
        # worker thread), in the order they came due: stepped again by unpark.
        self.parked: dict[int, None] = {}
        # A worker thread holds the session (a large message): nothing else touches it; free
        # is set when it is back.
        self.busy = False
        self.free = trio.Event()
        self.free.set()
        self.closing = False  # the session asked to close: nothing more is sent
        self.flushing = False  # a flush task is under way
        self.unflushed = False  # something was queued since the flush task last sent
        self.drained = trio.Event()  # set when the flush task is done
        self.drained.set()
        self.watch: Timer | None = None  # the write-timeout watch while a flush is under way
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
            self.drained = trio.Event()
            self.websocket.sent_at = trio.current_time()
            if self.write_timeout is not None and self.watch is None:
                self.watch = self.timers.call_at(
                    trio.current_time() + self.write_timeout / 4, self.check_progress, self.fail
                )
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
            self.drained.set()
            if self.watch is not None:
                self.watch.cancel()
                self.watch = None
        self.unpark()

    def check_progress(self) -> None:
        """RWS-LIMIT-13: close a connection whose client took nothing for the write timeout."""
        self.watch = None
        if not self.flushing or self.closing or self.write_timeout is None:
            return
        now = trio.current_time()
        if now - self.websocket.sent_at >= self.write_timeout:
            self.closing = True
            self.nursery.start_soon(self.close, 1011, "write timeout")
            return
        self.watch = self.timers.call_at(
            now + self.write_timeout / 4, self.check_progress, self.fail
        )

    def unpark(self) -> None:
        """Step the parked runs again, once the flush is done and the session is free."""
        if self.flushing or self.busy or self.closing or not self.parked:
            return
        parked, self.parked = self.parked, {}
        now = trio.current_time()
        for run_id in parked:
            self.runs[run_id] = self.timers.call_at(
                now, functools.partial(self.step, run_id), self.fail
            )

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
        if self.busy:
            return  # the session is in a worker thread: perform sets the timer after it
        self.session.tick(trio.current_time())
        self.perform()

    def step(self, run_id: int) -> None:
        """Step one run (from a timer: at its start and after each pause; after its save)."""
        if self.flushing or self.busy:
            # RWS-LIMIT-13: the socket has not taken what was sent (or the session is in a
            # worker thread): the run waits, producing nothing, until unpark.
            self.runs.pop(run_id, None)
            self.parked[run_id] = None
            return
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
            await self.free.wait()
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
        await self.free.wait()
        self.session.stored_loaded(action.ticket, record, trio.current_time())
        self.perform()

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code``; a client that takes nothing gets ``close_timeout``, then the
        TCP connection is closed (the closing handshake waits for the flush before it)."""
        with trio.move_on_after(self.websocket.close_timeout or math.inf):
            with contextlib.suppress(ConnectionClosed):
                await self.websocket.aclose(code, reason)
            return
        await trio.aclose_forcefully(self.websocket.stream)

    async def receive_large(self, text: str, now: float) -> None:
        """Hand a large message to the session in a worker thread (see THREAD_CHARACTERS).

        Meanwhile trio serves the other connections; this one's timers and runs wait (tick
        and step see ``busy``). The wait is not cancellable: the session is the thread's
        until it returns.
        """
        self.busy = True
        self.free = trio.Event()
        try:
            await trio.to_thread.run_sync(self.session.receive_text, text, now, limiter=self.large)
        finally:
            self.busy = False
            self.free.set()
            self.unpark()

    async def read(self) -> None:
        try:
            while True:
                if self.flushing:
                    # RWS-LIMIT-13: a client that does not take what is sent gets no more
                    # answers (nor is more of what it sends read) until it does.
                    await self.drained.wait()
                message = await self.websocket.recv()
                now = trio.current_time()
                if isinstance(message, bytes):
                    self.session.receive_binary(message, now)
                elif len(message) >= THREAD_CHARACTERS:
                    await self.receive_large(message, now)
                else:
                    self.session.receive_text(message, now)
                self.perform()
        except ConnectionClosed:
            pass

    def stop(self) -> list[str]:
        """The connection is gone: cancel its timers and forget the runs they would step.

        Returns the response ids to delete from storage (RWS-LIMIT-10); a run being saved
        is left to its persist task, which the nursery's cancellation ends.
        """
        self.closing = True
        for timer in (self.timer, self.watch):
            if timer is not None:
                timer.cancel()
        cut_off, self.parked = list(self.parked), {}
        for run_id, timer in list(self.runs.items()):
            if timer is None:
                continue
            timer.cancel()
            del self.runs[run_id]
            cut_off.append(run_id)
        unfinished: list[str] = []
        for run_id in cut_off:
            response_id = self.session.run_cancelled(run_id)
            if response_id is not None:
                unfinished.append(response_id)
        return unfinished


@dataclass(frozen=True)
class _Shared:
    """What every connection of one server shares."""

    store: ResponseStore
    # shared-cache fault: one cache for every connection, against RWS-CACHE-8; else None.
    cache: ResponseCache | None
    timers: Timers
    # One worker thread at a time for large messages: they take turns, so the event loop
    # competes for the interpreter with one of them at most.
    large: trio.CapacityLimiter
    trim: TrimScheduler


async def _handle(config: ServerConfig, shared: _Shared, websocket: ServerConnection) -> None:
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
        cache=shared.cache,
        multiplex=config.multiplex,
        steering=config.steering,
    )
    store = shared.store
    async with trio.open_nursery() as nursery:
        tasks = _ConnectionTasks(websocket, session, shared, nursery, config.limits.write_timeout)
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
    forget_parser_failure(websocket.protocol)
    shared.trim.connection_ended()
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
    timers = Timers()
    shared = _Shared(
        store=store,
        cache=ResponseCache() if config.faults.active("shared-cache") else None,
        timers=timers,
        large=trio.CapacityLimiter(1),
        trim=TrimScheduler(
            lambda delay, callback: timers.call_at(trio.current_time() + delay, callback, _ignore),
            lambda function: trio.lowlevel.start_thread_soon(function, _ignore),
        ),
    )
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(timers.run)
            # Spec section 13: HTTP on the same port; the front hands upgrades to websockets.
            listeners = await trio.open_tcp_listeners(config.port, host=config.host)
            settings = http_settings(config.api_keys, config.limits, config.cost, config.faults)
            front = TrioFront(settings, store, listeners)
            server: Server = await nursery.start(
                functools.partial(
                    websockets_serve,
                    functools.partial(_handle, config, shared),
                    listeners=cast(Any, [front.handoff]),
                    process_request=functools.partial(_process_request, config),
                    process_response=functools.partial(add_limits_header, config.limits),
                    # RWS-TRANS-7: messages up to max-message-size; above it, close 1009.
                    # Compressed messages too: websockets inflates at most max_size bytes of
                    # one, then closes.
                    max_size=config.limits.max_message_size,
                    ping_interval=config.ping_interval,
                    close_timeout=config.close_timeout,
                    # Messages read ahead of the session while it waits (for the writer, or
                    # for a large message's thread): at most this many, each up to
                    # max-message-size.
                    max_queue=_READ_AHEAD,
                    create_connection=_Connection,
                )
            )
            await nursery.start(front.serve)
            port = _bound_port(listeners)
            task_status.started(
                RunningServer(f"ws://{_url_host(config.host)}:{port}{PATH}", port, server, store)
            )
    finally:
        store.close()


def _ignore(_: object) -> None:
    """The outcome of a memory trim (it returns nothing and raises nothing worth a report)."""


def _bound_port(listeners: Iterable[trio.SocketListener]) -> int:
    for listener in listeners:
        port: int = listener.socket.getsockname()[1]
        return port
    raise RuntimeError("the server has no listener")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
