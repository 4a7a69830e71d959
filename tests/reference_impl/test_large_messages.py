"""Large and compressed messages in both drivers: nobody waits for them, nothing inflates past
the limit.

A message of at least THREAD_CHARACTERS goes to the session in a worker thread, one at a time
for the whole server. The tests hold that thread on an event until another connection has
been served: were the message handled on the event loop, the other connection could not be,
and the test would time out. Meanwhile the connection's own runs and timers leave its session
alone. A compressed message that inflates beyond max-message-size is refused with 1009 before
it is inflated whole (websockets bounds ``zlib``'s output by what the message may still hold)
and never reaches the session; one that inflates to less is served (RWS-TRANS-7).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing
from websockets.asyncio.client import connect as asyncio_connect
from websockets.exceptions import ConnectionClosed, PayloadTooBig
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame
from websockets.trio.client import connect as trio_connect

from reference_impl import server_asyncio
from reference_impl.limits import THREAD_CHARACTERS, Limits
from reference_impl.server import DEVELOPMENT_KEY, RunningServer, ServerConfig, serve
from reference_impl.session import RunStep, Session
from tests.reference_impl.driver import TERMINAL_TYPES, create

__all__: list[str] = []

HEADERS = {"Authorization": f"Bearer {DEVELOPMENT_KEY}"}
CONFIG = ServerConfig(port=0, ping_interval=None, limits=Limits(storage="none"))
# A request over the threshold: one user message of padding, then the directive.
LARGE = json.dumps(create("x" * THREAD_CHARACTERS + "\nrws:text length=8", store=False))
PACED = "rws:delay ms=100\nrws:text length=40 chunks=20"


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.05)


@dataclass
class Held:
    """Large messages held in their worker thread until ``release`` is set."""

    entered: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    release: threading.Event = field(default_factory=threading.Event)
    released: list[bool] = field(default_factory=list)  # per large message: not timed out
    large_threads: list[bool] = field(default_factory=list)  # ...: off the main thread
    small_threads: list[bool] = field(default_factory=list)
    busy: set[int] = field(default_factory=set)  # id() of sessions inside a large message
    most_at_once: int = 0
    steps_while_busy: int = 0


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    seen = Held()
    receive, step = Session.receive_text, Session.step
    lock = threading.Lock()

    def watched_receive(self: Session, text: str, now: float) -> None:
        off_main = threading.current_thread() is not threading.main_thread()
        if len(text) < THREAD_CHARACTERS:
            seen.small_threads.append(off_main)
            return receive(self, text, now)
        with lock:
            seen.busy.add(id(self))
            seen.most_at_once = max(seen.most_at_once, len(seen.busy))
        seen.large_threads.append(off_main)
        seen.entered.release()
        seen.released.append(seen.release.wait(30))
        try:
            return receive(self, text, now)
        finally:
            with lock:
                seen.busy.discard(id(self))

    def watched_step(self: Session, run_id: int, now: float) -> RunStep:
        if id(self) in seen.busy:
            seen.steps_while_busy += 1
        return step(self, run_id, now)

    monkeypatch.setattr(Session, "receive_text", watched_receive)
    monkeypatch.setattr(Session, "step", watched_step)
    yield seen
    seen.release.set()


class Client:
    """The few calls the tests make, on either driver's client."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def next(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(await self.ws.recv())
        return result

    async def outcome(self) -> list[dict[str, Any]]:
        events = [await self.next()]
        while events[-1]["type"] not in {*TERMINAL_TYPES, "error"}:
            events.append(await self.next())
        return events


async def served_while_held(
    held: Held,
    open_client: Callable[[], Any],
    in_thread: Callable[[Callable[[], object]], Awaitable[object]],
) -> tuple[str, list[dict[str, Any]]]:
    """Connection A has a paced run in flight and sends a large message; connection B is
    served while A's message is held in its thread; then A gets both outcomes."""
    async with open_client() as a_ws, open_client() as b_ws:
        a, b = Client(a_ws), Client(b_ws)
        await a.send(json.dumps(create(PACED, stream_id="paced", store=False)))
        assert (await a.next())["type"] == "response.created"
        await a.send(LARGE)
        await in_thread(held.entered.acquire)
        await b.send(json.dumps(create("rws:text length=8", store=False)))
        other = (await b.outcome())[-1]["type"]
        held.release.set()
        events = [await a.next()]
        while sum(e["type"] in TERMINAL_TYPES for e in events) < 2:
            events.append(await a.next())
    return other, events


def check_held(held: Held, other: str, events: list[dict[str, Any]]) -> None:
    assert other == "response.completed"
    assert held.released == [True]  # released by the test, after B was served
    assert held.large_threads == [True]
    assert held.small_threads
    assert not any(held.small_threads)
    assert held.steps_while_busy == 0
    for lane in ("paced", None):
        run = [e for e in events if e.get("stream_id") == lane]
        numbers = [e["sequence_number"] for e in run]
        assert numbers == list(range(numbers[0], numbers[0] + len(run)))
        assert run[-1]["type"] == "response.completed"


@asynccontextmanager
async def trio_serving(config: ServerConfig = CONFIG) -> AsyncIterator[RunningServer]:
    async with trio.open_nursery() as nursery:
        running: RunningServer = await nursery.start(serve, config)
        yield running
        nursery.cancel_scope.cancel()


async def test_trio_a_large_message_holds_up_no_other_connection(
    clock: trio.testing.MockClock, held: Held
) -> None:
    """The large message is handled off the event loop (B is served meanwhile); A's paced run
    does not touch A's session until the thread is done, then both of A's runs complete."""
    async with trio_serving() as server:
        other, events = await served_while_held(
            held,
            lambda: trio_connect(server.url, additional_headers=HEADERS, max_size=None),
            trio.to_thread.run_sync,
        )
    check_held(held, other, events)


def test_asyncio_a_large_message_holds_up_no_other_connection(held: Held) -> None:
    """As with trio, on the asyncio driver."""

    async def main() -> tuple[str, list[dict[str, Any]]]:
        async with server_asyncio.serve(CONFIG) as running:
            return await served_while_held(
                held,
                lambda: asyncio_connect(running.url, additional_headers=HEADERS, max_size=None),
                asyncio.to_thread,
            )

    other, events = asyncio.run(main())
    check_held(held, other, events)


async def test_trio_large_messages_take_turns(clock: trio.testing.MockClock, held: Held) -> None:
    """Two connections' large messages are handled one after the other, never at once: the
    event loop competes for the interpreter with one worker at most."""
    async with (
        trio_serving() as server,
        trio_connect(server.url, additional_headers=HEADERS, max_size=None) as a,
        trio_connect(server.url, additional_headers=HEADERS, max_size=None) as b,
    ):
        await a.send(LARGE)
        await b.send(LARGE)
        await trio.to_thread.run_sync(held.entered.acquire)
        await trio.testing.wait_all_tasks_blocked()
        assert held.most_at_once == 1
        held.release.set()
        for ws in (a, b):
            assert (await Client(ws).outcome())[-1]["type"] == "response.completed"
    assert held.most_at_once == 1
    assert held.released == [True, True]


# --- compressed messages -------------------------------------------------------------------

LIMIT = 1024 * 1024


@dataclass
class Inflated:
    """What the server's permessage-deflate decoder produced and refused."""

    returned: int = 0
    refused: int = 0
    received: list[int] = field(default_factory=list)  # lengths the session received


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> Inflated:
    seen = Inflated()
    decode, receive = PerMessageDeflate.decode, Session.receive_text

    def watched_decode(
        self: PerMessageDeflate, frame: Frame, *, max_size: int | None = None
    ) -> Frame:
        try:
            out = decode(self, frame, max_size=max_size)
        except PayloadTooBig:
            seen.refused += 1
            raise
        seen.returned += len(out.data)
        return out

    def watched_receive(self: Session, text: str, now: float) -> None:
        seen.received.append(len(text))
        receive(self, text, now)

    monkeypatch.setattr(PerMessageDeflate, "decode", watched_decode)
    monkeypatch.setattr(Session, "receive_text", watched_receive)
    return seen


def bomb(size: int) -> str:
    """A valid request whose input string makes the message ``size`` characters long."""
    request = create("", store=False)
    del request["input"]
    head = json.dumps(request)[:-1] + ', "input": "'
    return head + "a" * (size - len(head) - 2) + '"}'


@pytest.mark.parametrize("fragments", [1, 64])
async def test_trio_a_compressed_message_inflating_past_the_limit_is_refused_with_1009(
    inflated: Inflated, fragments: int
) -> None:
    """RWS-TRANS-16, D19: 8 MiB of text deflated to a few kB (in one frame or in fragments)
    against a 1 MiB max-message-size: closed with 1009; the server never inflated more than
    the limit and the session never saw the message."""
    config = ServerConfig(port=0, ping_interval=None, limits=Limits(max_message_size=LIMIT))
    text = bomb(8 * LIMIT)
    async with (
        trio_serving(config) as server,
        trio_connect(server.url, additional_headers=HEADERS, compression="deflate") as ws,
    ):
        if fragments == 1:
            await ws.send(text)
        else:
            step = len(text) // fragments + 1
            # The server may close before the last fragments are sent.
            with contextlib.suppress(ConnectionClosed):
                await ws.send(text[i : i + step] for i in range(0, len(text), step))
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1009
        await trio.testing.wait_all_tasks_blocked()
        # The refusal's traceback (the frames that inflated, with their data, and the
        # protocol) is dropped when the connection ends: no cycle keeps it until a full
        # garbage collection.
        kept = [
            obj
            for obj in gc.get_objects()
            if type(obj) is PayloadTooBig and obj.__traceback__ is not None
        ]
        assert kept == []
    assert inflated.refused == 1
    assert inflated.returned <= LIMIT
    assert inflated.received == []


def test_asyncio_a_compressed_message_just_under_the_limit_is_served(
    inflated: Inflated,
) -> None:
    """RWS-TRANS-7 with permessage-deflate, asyncio driver: a message that inflates to just
    under max-message-size is read and answered; one just over it is refused with 1009."""
    config = ServerConfig(port=0, ping_interval=None, limits=Limits(max_message_size=LIMIT))

    async def main() -> tuple[str, int | None]:
        async with (
            server_asyncio.serve(config) as running,
            asyncio_connect(running.url, additional_headers=HEADERS, compression="deflate") as ws,
        ):
            await ws.send(bomb(LIMIT - 64))
            answer = (await Client(ws).outcome())[-1]["type"]
            await ws.send(bomb(LIMIT + 64))
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return answer, ws.close_code

    answer, code = asyncio.run(main())
    # conformance-1 answers an input without directives with a short text.
    assert answer == "response.completed"
    assert code == 1009
    assert inflated.received == [LIMIT - 64]
    assert inflated.refused == 1
