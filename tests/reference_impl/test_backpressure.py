"""Backpressure in both drivers: runs produce only as the client takes, a stalled client is
closed after the write timeout (RWS-LIMIT-13), and nobody else waits for either.

The clients here are :class:`~tests.reference_impl.raw_client.RawClient`: they stop reading
at the socket, so the server's writes really block. Runs of 1,000,000 characters on three
lanes make about 15 MB of events, far more than the kernel's buffers hold. Each test watches
the driver from inside: no run step while the connection has more than it can write, runs
parked meanwhile, the close and its reason. The trio tests run on trio's mock clock; the
asyncio ones on a write timeout of a fraction of a second.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing
from websockets.asyncio.client import connect as asyncio_connect
from websockets.trio.client import connect as trio_connect

from reference_impl import server as trio_server
from reference_impl import server_asyncio
from reference_impl.actions import SendText, Wait
from reference_impl.limits import Limits
from reference_impl.server import DEVELOPMENT_KEY, RunningServer, ServerConfig, serve
from reference_impl.session import RunDone, RunStep, Session, StartRun
from reference_impl.session_runs import STEP_CHARACTERS
from tests.reference_impl.driver import TERMINAL_TYPES, create
from tests.reference_impl.raw_client import RawClient

__all__: list[str] = []

BIG_RUN = "rws:text length=1000000 chunks=1000"
LANES = ("a", "b", "c")
HEADERS = {"Authorization": f"Bearer {DEVELOPMENT_KEY}"}
Tasks = trio_server._ConnectionTasks | server_asyncio._ConnectionTasks


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.05)


@dataclass
class Watch:
    """What the drivers' connections did, seen from inside."""

    held: Callable[[Tasks], bool]  # whether the connection has more than it can write
    tasks: list[Tasks] = field(default_factory=list)
    steps_while_held: int = 0
    most_parked: int = 0
    closes: list[tuple[int, str]] = field(default_factory=list)
    # Called when a run is parked and when a connection's tasks stop (a test's event's set).
    on_park: Callable[[], None] = lambda: None
    on_stop: Callable[[], None] = lambda: None

    def of(self, session: Session) -> Tasks | None:
        return next((t for t in self.tasks if t.session is session), None)


def watch(monkeypatch: pytest.MonkeyPatch, module: Any, held: Callable[[Tasks], bool]) -> Watch:
    """Instrument one driver's connections (``module`` is the driver's module)."""
    seen = Watch(held)
    cls = module._ConnectionTasks
    init, step, close, stop = cls.__init__, cls.step, cls.close, cls.stop
    session_step = Session.step

    def watched_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        seen.tasks.append(self)

    def watched_session_step(self: Session, run_id: int, now: float) -> RunStep:
        tasks = seen.of(self)
        if tasks is not None and held(tasks):
            seen.steps_while_held += 1
        return session_step(self, run_id, now)

    def watched_step(self: Any, run_id: int) -> None:
        step(self, run_id)
        seen.most_parked = max(seen.most_parked, len(self.parked))
        if self.parked:
            seen.on_park()

    async def watched_close(self: Any, code: int, reason: str) -> None:
        seen.closes.append((code, reason))
        await close(self, code, reason)

    def watched_stop(self: Any) -> Any:
        seen.on_stop()
        return stop(self)

    monkeypatch.setattr(cls, "__init__", watched_init)
    monkeypatch.setattr(cls, "step", watched_step)
    monkeypatch.setattr(cls, "close", watched_close)
    monkeypatch.setattr(cls, "stop", watched_stop)
    monkeypatch.setattr(Session, "step", watched_session_step)
    return seen


def check_runs(messages: list[dict[str, Any]]) -> None:
    """Every lane's run arrived whole and in order."""
    for lane in LANES:
        events = [m for m in messages if m.get("stream_id") == lane]
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        assert events[-1]["type"] == "response.completed"
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert len(text) == 1_000_000


# --- the session: a step hands control back ------------------------------------------------


def test_a_run_step_sends_a_bounded_amount_then_hands_control_back() -> None:
    """An unpaced run of about 5 MB of events is sent in steps of about STEP_CHARACTERS
    (plus the event that crosses it), each but the last ending in Wait(0), in order."""
    session = Session(api_key="k", now=0.0)
    session.receive_text(json.dumps(create(BIG_RUN, store=False)), 0.0)
    (run_id,) = [a.run_id for a in session.actions() if isinstance(a, StartRun)]
    steps: list[tuple[RunStep, list[str]]] = []
    while not steps or not isinstance(steps[-1][0], RunDone):
        step = session.step(run_id, 0.0)
        texts = [a.text for a in session.actions() if isinstance(a, SendText)]
        steps.append((step, texts))
    assert all(step == Wait(0.0) for step, _ in steps[:-1])
    for _, texts in steps:
        # Under the budget before its last event: the step stopped as soon as it crossed it.
        assert sum(len(t) for t in texts[:-1]) < STEP_CHARACTERS
    events = [json.loads(t) for _, texts in steps for t in texts]
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))
    assert sum(len(t) for _, texts in steps for t in texts) > 10 * STEP_CHARACTERS


# --- trio ----------------------------------------------------------------------------------


@asynccontextmanager
async def trio_serving(config: ServerConfig) -> AsyncIterator[RunningServer]:
    async with trio.open_nursery() as nursery:
        running: RunningServer = await nursery.start(serve, config)
        yield running
        nursery.cancel_scope.cancel()


async def trio_raw(server: RunningServer) -> tuple[trio.SocketStream, RawClient]:
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    raw = RawClient(server.url, DEVELOPMENT_KEY)
    await stream.send_all(raw.outgoing())
    while not raw.upgraded:
        raw.receive(await stream.receive_some())
    for lane in LANES:
        await stream.send_all(raw.send(create(BIG_RUN, stream_id=lane, store=False)))
    return stream, raw


def trio_config(write_timeout: float) -> ServerConfig:
    return ServerConfig(
        port=0, ping_interval=None, limits=Limits(write_timeout=write_timeout, storage="none")
    )


async def trio_other_run(server: RunningServer) -> str:
    async with trio_connect(server.url, additional_headers=HEADERS) as ws:
        await ws.send(json.dumps(create("rws:text length=8", store=False)))
        while True:
            event = json.loads(await ws.recv())
            if event["type"] in TERMINAL_TYPES:
                return str(event["type"])


async def test_trio_a_client_that_stops_reading_is_closed_after_the_write_timeout(
    clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RWS-LIMIT-13: the runs stop producing once the socket takes no more (no step while a
    flush is under way); after the write timeout without progress the server closes with 1011
    (and cuts the TCP connection after its close timeout); another connection is served
    meanwhile."""
    seen = watch(monkeypatch, trio_server, lambda tasks: bool(getattr(tasks, "flushing", False)))
    stopped = trio.Semaphore(0, max_value=2)
    seen.on_stop = stopped.release
    async with trio_serving(trio_config(write_timeout=5.0)) as server:
        stream, _ = await trio_raw(server)
        stalled_at = trio.current_time()
        assert await trio_other_run(server) == "response.completed"
        with trio.fail_after(60):
            await stopped.acquire()  # the other connection's handler
            await stopped.acquire()  # the stalled one's
        await stream.aclose()
    assert seen.closes == [(1011, "write timeout")]
    assert trio.current_time() - stalled_at >= 5.0
    assert seen.most_parked >= 1
    assert seen.steps_while_held == 0


async def test_trio_a_client_that_reads_late_gets_every_run_whole(
    clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that stops reading for less than the write timeout, then reads: its runs wait
    meanwhile (parked, no step while the flush is under way), then arrive whole and in order,
    and the connection stays open."""
    seen = watch(monkeypatch, trio_server, lambda tasks: bool(getattr(tasks, "flushing", False)))
    async with trio_serving(trio_config(write_timeout=10.0)) as server:
        stream, raw = await trio_raw(server)
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(6)  # on the mock clock: more than half the write timeout
        with trio.fail_after(60):
            while sum(m["type"] in TERMINAL_TYPES for m in raw.messages) < len(LANES):
                raw.receive(await stream.receive_some(1 << 20))
        await stream.aclose()
    check_runs(raw.messages)
    assert seen.closes == []
    assert seen.most_parked >= 1
    assert seen.steps_while_held == 0


# --- asyncio -------------------------------------------------------------------------------


def asyncio_config(write_timeout: float) -> ServerConfig:
    return ServerConfig(
        port=0,
        ping_interval=None,
        close_timeout=0.2,
        limits=Limits(write_timeout=write_timeout, storage="none"),
    )


async def asyncio_raw(
    running: server_asyncio.RunningAsyncioServer,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, RawClient]:
    # A StreamReader stops reading the socket once it holds 64 KiB the test has not read.
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    raw = RawClient(running.url, DEVELOPMENT_KEY)
    writer.write(raw.outgoing())
    while not raw.upgraded:
        raw.receive(await reader.read(65536))
    for lane in LANES:
        writer.write(raw.send(create(BIG_RUN, stream_id=lane, store=False)))
    await writer.drain()
    return reader, writer, raw


async def asyncio_other_run(running: server_asyncio.RunningAsyncioServer) -> str:
    async with asyncio_connect(running.url, additional_headers=HEADERS) as ws:
        await ws.send(json.dumps(create("rws:text length=8", store=False)))
        while True:
            event = json.loads(await ws.recv())
            if event["type"] in TERMINAL_TYPES:
                return str(event["type"])


def asyncio_held(tasks: Tasks) -> bool:
    return isinstance(tasks, server_asyncio._ConnectionTasks) and tasks.websocket.paused


def test_asyncio_a_client_that_stops_reading_is_closed_after_the_write_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RWS-LIMIT-13 in the asyncio driver: no step while the transport's writes are paused;
    after the write timeout without progress the server closes with 1011; another connection
    is served meanwhile."""
    seen = watch(monkeypatch, server_asyncio, asyncio_held)

    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Semaphore(0)
        seen.on_stop = stopped.release
        async with server_asyncio.serve(asyncio_config(write_timeout=0.3)) as running:
            _, writer, _ = await asyncio_raw(running)
            stalled_at = loop.time()
            other = await asyncio_other_run(running)
            async with asyncio.timeout(30):
                await stopped.acquire()  # the other connection's handler
                await stopped.acquire()  # the stalled one's
            waited = loop.time() - stalled_at
            writer.close()
            return other, waited

    other, waited = asyncio.run(main())
    assert other == "response.completed"
    assert seen.closes == [(1011, "write timeout")]
    assert waited >= 0.3
    assert seen.most_parked >= 1
    assert seen.steps_while_held == 0


def test_asyncio_a_client_that_reads_late_gets_every_run_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The asyncio driver parks the runs while the client does not read and sends them on,
    whole and in order, once it does; the connection stays open."""
    seen = watch(monkeypatch, server_asyncio, asyncio_held)

    async def main() -> RawClient:
        parked = asyncio.Event()
        seen.on_park = parked.set
        async with server_asyncio.serve(asyncio_config(write_timeout=30.0)) as running:
            reader, writer, raw = await asyncio_raw(running)
            async with asyncio.timeout(30):
                await parked.wait()
                while sum(m["type"] in TERMINAL_TYPES for m in raw.messages) < len(LANES):
                    raw.receive(await reader.read(1 << 20))
            writer.close()
            return raw

    raw = asyncio.run(main())
    check_runs(raw.messages)
    assert seen.closes == []
    assert seen.steps_while_held == 0
