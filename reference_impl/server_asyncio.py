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
  (in a worker thread), and the closing handshake;
* backpressure (RWS-LIMIT-13): while the transport holds more than its high-water mark
  (websockets' ``write_limit``, 32 KiB), writes are paused: a run due for a step is parked
  instead, the reader reads no further message, and a watch closes the connection with 1011
  once the transport's buffer has not shrunk for the write timeout; when the buffer drains,
  the parked runs are stepped again. A step sends at most about 256 KiB, so what the transport
  holds stays bounded;
* a message of at least THREAD_CHARACTERS is handed to the session in a worker thread (one for
  the whole server), so that other connections are served meanwhile; until it returns, the
  connection's timers and runs leave the session alone.

When the connection closes the reader returns, the timers are cancelled and every task of
the connection is cancelled: in-flight runs stop where they are and never become continuable
(RWS-LIMIT-10): a stored run cut off after it was persisted is deleted again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from reference_impl.cache import ResponseCache
from reference_impl.fault_hooks import drop_pongs
from reference_impl.http_front import HttpFront, http_settings
from reference_impl.limits import THREAD_CHARACTERS
from reference_impl.memory import TrimScheduler, forget_parser_failure
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

# Frames websockets reads ahead of the session (its max_queue; its default is 16).
_READ_AHEAD = 4


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
    # The connection's tasks, told when the transport stops and starts taking writes.
    flow: _ConnectionTasks | None = None

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.flow is not None:
            self.flow.writes_paused()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.flow is not None:
            self.flow.writes_resumed()

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

    def __init__(
        self,
        websocket: _Connection,
        session: Session,
        shared: _Shared,
        write_timeout: float | None,
    ) -> None:
        self.websocket = websocket
        self.session = session
        self.store = shared.store
        self.large = shared.large
        self.write_timeout = write_timeout
        self.loop = asyncio.get_running_loop()
        # The session's own timer (connection age, idle timeout) and when it is due.
        self.deadline: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        # Every run in flight, with the callback that steps it next; None while its persist
        # task saves it (the task then owns it, see persist).
        self.runs: dict[int, asyncio.Handle | None] = {}
        # Runs due for a step that wait for the writer (or for the session to come back from
        # a worker thread), in the order they came due: stepped again by unpark.
        self.parked: dict[int, None] = {}
        # The worker thread that holds the session while it handles a large message: nothing
        # else touches the session until it is done.
        self.busy: asyncio.Future[None] | None = None
        # The write-timeout watch while writes are paused: the last time the transport's
        # buffer shrank, and its size then.
        self.watch: asyncio.TimerHandle | None = None
        self.progress_at = 0.0
        self.progress_size = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False  # the session asked to close: nothing more is sent
        websocket.flow = self
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
        if self.busy is not None:
            return  # the session is in a worker thread: perform re-arms the timer after it
        try:
            self.session.tick(self.loop.time())
            self.perform()
        except Exception as exc:
            self.fail(exc)

    def step(self, run_id: int) -> None:
        """Step one run (a callback: at its start, after each pause, after its save)."""
        if self.websocket.paused or self.busy is not None:
            # RWS-LIMIT-13: the transport holds more than its high-water mark (or the session
            # is in a worker thread): the run waits, producing nothing, until unpark.
            self.runs.pop(run_id, None)
            self.parked[run_id] = None
            return
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

    def unpark(self) -> None:
        """Step the parked runs again, once the writer takes more and the session is free."""
        if self.websocket.paused or self.busy is not None or self.closing or not self.parked:
            return
        parked, self.parked = self.parked, {}
        for run_id in parked:
            self.runs[run_id] = self.loop.call_soon(self.step, run_id)

    def writes_paused(self) -> None:
        """The transport holds more than its high-water mark: watch it for the write timeout."""
        if self.write_timeout is None or self.closing:
            return
        self.progress_at = self.loop.time()
        self.progress_size = self.websocket.transport.get_write_buffer_size()
        if self.watch is None:
            self.watch = self.loop.call_later(self.write_timeout / 4, self.check_progress)

    def writes_resumed(self) -> None:
        """The transport's buffer drained below its low-water mark: the runs go on."""
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None
        self.unpark()

    def check_progress(self) -> None:
        """RWS-LIMIT-13: close a connection whose client took nothing for the write timeout."""
        self.watch = None
        if not self.websocket.paused or self.closing or self.write_timeout is None:
            return
        now = self.loop.time()
        size = self.websocket.transport.get_write_buffer_size()
        if size < self.progress_size:  # the socket took some: the client reads
            self.progress_at, self.progress_size = now, size
        if now - self.progress_at >= self.write_timeout:
            self.closing = True
            self.start(self.close(1011, "write timeout"))
            return
        self.watch = self.loop.call_later(self.write_timeout / 4, self.check_progress)

    def fail(self, exc: Exception) -> None:
        """A timer's callback failed: close the connection as a failing handler would (1011)."""
        self.websocket.logger.error("connection failed", exc_info=exc)
        if not self.closing:
            self.closing = True
            self.start(self.close(1011, ""))

    async def session_free(self) -> None:
        """Wait until no worker thread holds the session."""
        while self.busy is not None:
            await asyncio.wait([self.busy])

    async def persist(self, run_id: int, record: StoredResponse, api_key: str) -> None:
        # RWS-CACHE-11: durable before the next step sends the terminal event.
        saving = asyncio.ensure_future(asyncio.to_thread(self.store.save, record, api_key))
        try:
            await asyncio.shield(saving)
        except (sqlite3.Error, OSError):
            # Issue 18: a save that fails (a database kept locked, a full disk) fails this
            # run only - response.failed in place of its terminal event - never the connection.
            await self.session_free()
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
        await self.session_free()
        self.session.stored_loaded(action.ticket, record, self.loop.time())
        self.perform()

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code``; a client that takes nothing gets ``close_timeout``, then the
        TCP connection is aborted (websockets' own close waits for its buffer to drain)."""
        try:
            async with asyncio.timeout(self.websocket.close_timeout):
                await self.websocket.close(code, reason)
        except TimeoutError:
            self.websocket.transport.abort()
        except ConnectionClosed:
            pass

    async def receive_large(self, text: str, now: float) -> None:
        """Hand a large message to the session in a worker thread (see THREAD_CHARACTERS).

        Meanwhile the event loop serves the other connections; this one's timers and runs
        wait (tick and step see ``busy``), and so does its reader, which awaits this.
        """
        thread = self.loop.run_in_executor(self.large, self.session.receive_text, text, now)
        self.busy = thread
        thread.add_done_callback(self._thread_done)
        await asyncio.shield(thread)

    def _thread_done(self, thread: asyncio.Future[None]) -> None:
        if self.busy is thread:
            self.busy = None
            self.unpark()

    async def read(self) -> None:
        try:
            while True:
                if self.websocket.paused:
                    # RWS-LIMIT-13: a client that does not take what is sent gets no more
                    # answers (nor is more of what it sends read) until it does.
                    with contextlib.suppress(Exception):
                        await self.websocket.drain()
                message = await self.websocket.recv()
                now = self.loop.time()
                if isinstance(message, bytes):
                    self.session.receive_binary(message, now)
                elif len(message) >= THREAD_CHARACTERS:
                    await self.receive_large(message, now)
                else:
                    self.session.receive_text(message, now)
                self.perform()
        except ConnectionClosed:
            pass

    async def stop(self) -> None:
        """The connection is gone: cancel the timers, the runs and every task."""
        self.closing = True
        self.websocket.flow = None
        # A worker thread still holding the session (the reader was cancelled) finishes first.
        await self.session_free()
        for timer in (self.timer, self.watch):
            if timer is not None:
                timer.cancel()
        cut_off, self.parked = list(self.parked), {}
        for run_id, handle in list(self.runs.items()):
            if handle is None:
                continue  # being saved: its persist task ends it
            handle.cancel()
            del self.runs[run_id]
            cut_off.append(run_id)
        for run_id in cut_off:
            # RWS-LIMIT-10: a run cut off between two steps is forgotten (and deleted again
            # should it have been persisted).
            unfinished = self.session.run_cancelled(run_id)
            if unfinished is not None:
                await asyncio.to_thread(self.store.delete, unfinished)
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class _Shared:
    """What every connection of one server shares."""

    store: ResponseStore
    # shared-cache fault: one cache for every connection, against RWS-CACHE-8; else None.
    cache: ResponseCache | None
    # One worker thread for large messages: they take turns, so the event loop competes for
    # the interpreter with one of them at most.
    large: concurrent.futures.ThreadPoolExecutor
    trim: TrimScheduler


async def _handle(config: ServerConfig, shared: _Shared, websocket: ServerConnection) -> None:
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
        cache=shared.cache,
        multiplex=config.multiplex,
        steering=config.steering,
    )
    tasks = _ConnectionTasks(websocket, session, shared, config.limits.write_timeout)
    try:
        await tasks.read()
    finally:
        # The client is gone (or the session closed the connection): stop everything.
        await tasks.stop()
        # The persist-on-close fault: what it held back is saved only now (RWS-CACHE-11).
        for held in session.held_records():
            await asyncio.shield(asyncio.to_thread(shared.store.save, held.record, held.api_key))
        forget_parser_failure(websocket.protocol)
        shared.trim.connection_ended()


@contextlib.asynccontextmanager
async def serve(config: ServerConfig) -> AsyncIterator[RunningAsyncioServer]:
    """Listen for the duration of the ``async with`` block; yields a RunningAsyncioServer."""
    loop = asyncio.get_running_loop()
    # D24: a server without a response store keeps nothing beyond the connection.
    store = ResponseStore(config.data_dir) if config.limits.storage == "durable" else NoStorage()
    large = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rws-large-message")
    shared = _Shared(
        store=store,
        cache=ResponseCache() if config.faults.active("shared-cache") else None,
        large=large,
        trim=TrimScheduler(loop.call_later, lambda trim: loop.run_in_executor(None, trim)),
    )
    # Spec section 13: HTTP requests on the same port; the front hands upgrades to websockets.
    front = HttpFront(
        http_settings(config.api_keys, config.limits, config.cost, config.faults), store
    )
    try:
        async with websockets_serve(
            functools.partial(_handle, config, shared),
            config.host,
            config.port,
            process_request=functools.partial(_check_request, config),
            process_response=functools.partial(add_limits_header, config.limits),
            # RWS-TRANS-7: messages up to max-message-size; above it, close 1009. Compressed
            # messages too: websockets inflates at most max_size bytes of one, then closes.
            max_size=config.limits.max_message_size,
            ping_interval=config.ping_interval,
            close_timeout=config.close_timeout,
            # Messages read ahead of the session while it waits (for the writer, or for a large
            # message's thread): at most this many, each up to max-message-size.
            max_queue=_READ_AHEAD,
            create_connection=cast(Any, front.wrap(_Connection)),
        ) as server:
            port = _bound_port(server)
            url = f"ws://{_url_host(config.host)}:{port}{PATH}"
            yield RunningAsyncioServer(url, port, server, store)
    finally:
        await front.aclose()
        large.shutdown(wait=True)
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
