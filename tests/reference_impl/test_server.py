"""End-to-end tests of the trio driver of the reference server over real loopback sockets.

The protocol rules are tested without sockets in ``test_session.py``; these tests check
the glue: the upgrade (401, 426, 404, the limits header), one session and one nursery per
connection, closing, limits enforced by ``websockets``, the server's one timer heap driven by
trio's clock, and writes the socket does not take at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.trio.client import ClientConnection, connect

from reference_impl import server as trio_server
from reference_impl.faults import Faults
from reference_impl.server import DEVELOPMENT_KEY, LIMITS_HEADER, RunningServer, ServerConfig, serve
from reference_impl.session import Limits, RunStep, Session
from reference_impl.trio_timers import Timers
from tests.reference_impl.driver import TERMINAL_TYPES, create

__all__: list[str] = []


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # Jumps only after 50 ms of real inactivity, so that loopback I/O in flight is never
    # mistaken for a quiet moment; pytest-trio runs the test on this clock.
    return trio.testing.MockClock(autojump_threshold=0.05)


@asynccontextmanager
async def serving(config: ServerConfig | None = None) -> AsyncIterator[RunningServer]:
    config = config or ServerConfig(port=0)
    async with trio.open_nursery() as nursery:
        running: RunningServer = await nursery.start(serve, config)
        yield running
        nursery.cancel_scope.cancel()


def client(server: RunningServer, key: str | None = DEVELOPMENT_KEY, **kwargs: Any) -> connect:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return connect(server.url, additional_headers=headers, **kwargs)


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    await ws.send(json.dumps(event))


async def outcome(ws: ClientConnection) -> list[dict[str, Any]]:
    """Read one request's outcome: a run up to its terminal event, or one error."""
    events: list[dict[str, Any]] = []
    while True:
        event = json.loads(await ws.recv())
        events.append(event)
        if event["type"] in TERMINAL_TYPES or event["type"] == "error":
            return events


async def http_status(server: RunningServer, request: bytes) -> int:
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all(request)
        data = b""
        while b"\r\n" not in data:
            chunk = await stream.receive_some()
            if not chunk:
                break
            data += chunk
    return int(data.split()[1])


async def test_server_answers_a_turn_and_its_continuation() -> None:
    """A text turn and a continuation from the connection cache over a real socket."""
    async with serving() as server, client(server) as ws:
        await send(ws, create("rws:text length=30 chunks=5", store=False))
        first = await outcome(ws)
        assert first[-1]["type"] == "response.completed"
        assert [e["sequence_number"] for e in first] == list(range(len(first)))
        parent = first[-1]["response"]["id"]
        await send(ws, create("next", previous_response_id=parent, store=False))
        second = await outcome(ws)
        assert second[-1]["type"] == "response.completed"
        assert second[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] > 0


async def test_server_advertises_its_limits_on_upgrade() -> None:
    """RWS-TRANS-11: the 101 response carries responses-ws-limits."""
    limits = Limits(max_connection_age=900, max_named_lanes=4)
    async with serving(ServerConfig(port=0, limits=limits)) as server, client(server) as ws:
        assert ws.response is not None
        assert ws.response.status_code == 101
        header = ws.response.headers[LIMITS_HEADER]
        pairs = dict(pair.split("=") for pair in header.split(","))
        assert pairs["max-connection-age"] == "900"
        assert pairs["max-named-lanes"] == "4"
        assert pairs["busy-lane"] == "queue"


@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_server_rejects_upgrade_without_valid_credentials_with_401(key: str | None) -> None:
    """RWS-TRANS-2: no or unknown credentials get 401 and no WebSocket."""
    async with serving() as server:
        with pytest.raises(InvalidStatus) as failure:
            async with client(server, key):
                pass
        assert failure.value.response.status_code == 401


async def test_server_accepts_any_of_its_configured_keys() -> None:
    """--api-key is repeatable; each key is accepted (and the dev key no longer is)."""
    config = ServerConfig(port=0, api_keys=frozenset({"k1", "k2"}))
    async with serving(config) as server:
        for key in ("k1", "k2"):
            async with client(server, key) as ws:
                await send(ws, create())
                assert (await outcome(ws))[-1]["type"] == "response.completed"
        with pytest.raises(InvalidStatus):
            async with client(server, DEVELOPMENT_KEY):
                pass


async def test_auth_403_fault_refuses_with_403() -> None:
    """The auth-403 fault refuses with 403 (RWS-TRANS-2 kept, RWS-TRANS-20 broken)."""
    config = ServerConfig(port=0, faults=Faults({"auth-403"}))
    async with serving(config) as server:
        with pytest.raises(InvalidStatus) as failure:
            async with client(server, "wrong-key"):
                pass
        assert failure.value.response.status_code == 403


async def test_no_auth_fault_accepts_missing_credentials() -> None:
    """The no-auth fault opens the WebSocket without credentials (RWS-TRANS-2 broken)."""
    config = ServerConfig(port=0, faults=Faults({"no-auth"}))
    async with serving(config) as server, client(server, None) as ws:
        await send(ws, create())
        assert (await outcome(ws))[-1]["type"] == "response.completed"


async def test_server_answers_plain_get_with_426() -> None:
    """RWS-TRANS-4: a GET without upgrade headers gets 426 Upgrade Required."""
    async with serving() as server:
        request = b"GET /v1/responses HTTP/1.1\r\nHost: localhost\r\n\r\n"
        assert await http_status(server, request) == 426


async def test_server_answers_other_paths_with_404() -> None:
    """Only /v1/responses is a WebSocket endpoint; a query string is allowed."""
    async with serving() as server:
        with pytest.raises(InvalidStatus) as failure:
            async with connect(
                server.url.replace("/v1/responses", "/v1/other"),
                additional_headers={"Authorization": f"Bearer {DEVELOPMENT_KEY}"},
            ):
                pass
        assert failure.value.response.status_code == 404
        async with connect(
            server.url + "?x=1", additional_headers={"Authorization": f"Bearer {DEVELOPMENT_KEY}"}
        ) as ws:
            await send(ws, create())
            assert (await outcome(ws))[-1]["type"] == "response.completed"


async def test_server_ignores_unknown_headers_and_compression_choice() -> None:
    """RWS-TRANS-3, RWS-TRANS-8: extra headers, deflate offered or not: the upgrade works."""
    async with serving() as server:
        for compression in ("deflate", None):
            async with connect(
                server.url,
                additional_headers={
                    "Authorization": f"Bearer {DEVELOPMENT_KEY}",
                    "OpenAI-Beta": "responses_websockets=2026-02-06",
                    "X-Stainless-Lang": "python",
                },
                compression=compression,
            ) as ws:
                await send(ws, create())
                assert (await outcome(ws))[-1]["type"] == "response.completed"


async def test_server_answers_pings() -> None:
    """RWS-TRANS-9: a ping gets its pong."""
    async with serving() as server, client(server) as ws:
        pong = await ws.ping(b"abc")
        with trio.fail_after(5):
            await pong.wait()


async def test_server_accepts_a_one_mib_message() -> None:
    """RWS-TRANS-7: messages of at least 1 MiB are accepted."""
    async with serving() as server, client(server) as ws:
        await send(ws, create("x" * (1024 * 1024)))
        assert (await outcome(ws))[-1]["type"] == "response.completed"


async def test_server_closes_with_1009_above_max_message_size() -> None:
    """RWS-TRANS-7: a message above max-message-size closes the connection with 1009."""
    config = ServerConfig(port=0, limits=Limits(max_message_size=2048))
    async with serving(config) as server, client(server) as ws:
        await send(ws, create("x" * 4096))
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1009


async def test_server_keeps_the_connection_after_binary_and_bad_json() -> None:
    """RWS-CREATE-9/10: error events, then the same connection still serves turns."""
    async with serving() as server, client(server) as ws:
        await ws.send(b"\x01\x02")
        assert json.loads(await ws.recv())["error"]["code"] == "unsupported_frame_type"
        await ws.send("{oops")
        assert json.loads(await ws.recv())["error"]["code"] == "invalid_json"
        await send(ws, create())
        assert (await outcome(ws))[-1]["type"] == "response.completed"


async def test_server_closes_at_the_connection_age_with_1001(
    clock: trio.testing.MockClock,
) -> None:
    """RWS-LIMIT-1/2: at max-connection-age: the limit error, then close 1001."""
    config = ServerConfig(port=0, limits=Limits(max_connection_age=600), ping_interval=None)
    async with serving(config) as server, client(server, ping_interval=None) as ws:
        start = trio.current_time()
        await send(ws, create())
        await outcome(ws)
        event = json.loads(await ws.recv())
        assert event["error"]["code"] == "websocket_connection_limit_reached"
        assert trio.current_time() - start >= 600
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1001


async def test_server_closes_idle_connections_with_1001(clock: trio.testing.MockClock) -> None:
    """RWS-LIMIT-4: after idle-timeout without messages or runs: close 1001."""
    config = ServerConfig(port=0, limits=Limits(idle_timeout=120), ping_interval=None)
    async with serving(config) as server, client(server, ping_interval=None) as ws:
        start = trio.current_time()
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1001
        assert trio.current_time() - start >= 120


async def test_closing_the_connection_cancels_runs_in_flight() -> None:
    """RWS-LIMIT-7, RWS-LIMIT-10: a run cut by the client's close stops and is not continuable."""
    async with serving() as server:
        async with client(server) as ws:
            # A minute between events: the run is surely still in flight when we close.
            await send(ws, create("rws:text length=100 chunks=50\nrws:delay ms=60000"))
            created = json.loads(await ws.recv())
            assert created["type"] == "response.created"
        with trio.fail_after(10):
            while server.server.all_connections:  # emptied when the handler returns
                await trio.testing.wait_all_tasks_blocked(0.01)
        async with client(server) as ws:
            await send(ws, create(previous_response_id=created["response"]["id"]))
            (error,) = await outcome(ws)
            assert error["error"]["code"] == "previous_response_not_found"
        assert len(server.store) == 0


async def test_stored_responses_are_isolated_between_api_keys() -> None:
    """RWS-LIMIT-5, RWS-CACHE-3: a key hydrates its own responses, never another key's."""
    config = ServerConfig(port=0, api_keys=frozenset({"alice", "bob"}))
    async with serving(config) as server:
        async with client(server, "alice") as ws:
            await send(ws, create("rws:text length=7"))
            parent = (await outcome(ws))[-1]["response"]["id"]
        async with client(server, "bob") as ws:
            await send(ws, create(previous_response_id=parent))
            (error,) = await outcome(ws)
            assert error["error"]["code"] == "previous_response_not_found"
        async with client(server, "alice") as ws:
            await send(ws, create(previous_response_id=parent))
            assert (await outcome(ws))[-1]["type"] == "response.completed"


async def test_deep_input_crash_fault_closes_only_its_connection() -> None:
    """crash-on-deep-input: the handler dies (1011); other connections live on."""
    config = ServerConfig(port=0, faults=Faults({"crash-on-deep-input"}))
    deep = "[" * 300 + "]" * 300
    async with serving(config) as server, client(server) as victim, client(server) as other:
        await victim.send(f'{{"type":"response.create","model":"conformance-1","x":{deep}}}')
        with pytest.raises(ConnectionClosed):
            await victim.recv()
        assert victim.close_code == 1011
        await send(other, create())
        assert (await outcome(other))[-1]["type"] == "response.completed"


async def test_timers_run_due_callbacks_in_time_order_and_skip_cancelled(
    clock: trio.testing.MockClock,
) -> None:
    """The server's one timer heap: due callbacks run in time order (ties in the order set),
    cancelled ones never, and cancelled entries are dropped once they are many."""
    timers = Timers()
    ran: list[tuple[float, int]] = []
    errors: list[Exception] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(timers.run)
        start = trio.current_time()
        handles = []
        for index in range(200):
            when = start + 1 + index % 7

            def record(index: int = index) -> None:
                ran.append((trio.current_time() - start, index))

            handles.append(timers.call_at(when, record, errors.append))
        for index, handle in enumerate(handles):
            if index % 3:
                handle.cancel()
        # 133 of 200 entries cancelled: the next one set drops them from the heap.
        timers.call_at(
            start + 0.5, lambda: ran.append((trio.current_time() - start, -1)), errors.append
        )
        assert len(timers.heap) == 68
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    expected = sorted((1 + index % 7, index) for index in range(0, 200, 3))
    assert ran == [(0.5, -1), *((float(when), index) for when, index in expected)]
    assert errors == []


async def test_a_failing_timer_callback_goes_to_its_owner(clock: trio.testing.MockClock) -> None:
    """A callback's exception reaches its on_error; the timer task runs the later ones."""
    timers = Timers()
    errors: list[Exception] = []
    ran: list[str] = []

    def fail() -> None:
        raise RuntimeError("boom")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(timers.run)
        now = trio.current_time()
        timers.call_at(now + 1, fail, errors.append)
        timers.call_at(now + 2, lambda: ran.append("later"), errors.append)
        await trio.sleep(3)
        nursery.cancel_scope.cancel()
    assert [str(error) for error in errors] == ["boom"]
    assert ran == ["later"]


async def test_paced_runs_of_several_connections_keep_their_own_pauses(
    clock: trio.testing.MockClock,
) -> None:
    """rws:delay on three connections at once: every event comes its run's pause after the
    one before (the clock stands still while the server works), whatever the other runs do."""
    arrivals: dict[int, list[float]] = {}

    async def paced(server: RunningServer, delay_ms: int) -> None:
        async with client(server, ping_interval=None) as ws:
            await send(ws, create(f"rws:delay ms={delay_ms}\nrws:text length=12 chunks=3"))
            sent = trio.current_time()
            times = arrivals.setdefault(delay_ms, [])
            while True:
                event = json.loads(await ws.recv())
                times.append(trio.current_time() - sent)
                if event["type"] in TERMINAL_TYPES:
                    return

    config = ServerConfig(port=0, ping_interval=None)
    async with serving(config) as server, trio.open_nursery() as nursery:
        for delay_ms in (300, 700, 1000):
            nursery.start_soon(paced, server, delay_ms)
    for delay_ms, times in arrivals.items():
        # response.created at once, then 10 events (in progress, item and part added, 3
        # deltas, text done, part and item done, completed), each one pause later.
        assert times == pytest.approx([j * delay_ms / 1000 for j in range(11)]), delay_ms


@pytest.mark.slow
async def test_a_run_larger_than_the_socket_takes_arrives_whole_and_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the socket does not take at once is sent by a flush task, after what it took and
    before anything sent later: 100,000 deltas to a client that reads only once the server is
    blocked on the full socket."""
    flushes = 0
    flush = trio_server._ConnectionTasks.flush

    async def counted(self: trio_server._ConnectionTasks) -> None:
        nonlocal flushes
        flushes += 1
        await flush(self)

    monkeypatch.setattr(trio_server._ConnectionTasks, "flush", counted)
    async with serving() as server, client(server, max_size=None) as ws:
        await send(ws, create("rws:text length=1000000 chunks=100000", store=False))
        await trio.testing.wait_all_tasks_blocked()
        assert flushes == 1
        events = await outcome(ws)
        await send(ws, create("after", store=False))
        after = await outcome(ws)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert sum(e["type"] == "response.output_text.delta" for e in events) == 100_000
    assert events[-1]["type"] == after[-1]["type"] == "response.completed"


async def test_a_failing_run_step_closes_only_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run step that raises (a bug) ends its connection with 1011, as a failing handler's
    does; the server's timers go on for every other connection."""
    step = Session.step
    failed = False

    def fail_once(self: Session, run_id: int, now: float) -> RunStep:
        nonlocal failed
        if not failed:
            failed = True
            raise RuntimeError("a bug in a run step")
        return step(self, run_id, now)

    monkeypatch.setattr(Session, "step", fail_once)
    async with serving() as server, client(server) as victim, client(server) as other:
        await send(victim, create(store=False))
        assert json.loads(await victim.recv())["type"] == "response.created"
        with pytest.raises(ConnectionClosed):
            await victim.recv()
        assert victim.close_code == 1011
        await send(other, create("rws:delay ms=10\nrws:text length=8 chunks=2", store=False))
        assert (await outcome(other))[-1]["type"] == "response.completed"
