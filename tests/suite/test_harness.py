"""The suite's wire harness against a tiny in-test WebSocket server (trio + websockets)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import trio
from websockets.http11 import Request, Response
from websockets.trio.server import ServerConnection, serve

from conformance.harness.wire import (
    ConnectionClosedError,
    ExpectationTimeout,
    Message,
    Recorder,
    Rejected,
    http_get_status,
    open_connection,
)

Handler = Callable[[ServerConnection], Any]


async def _echo_then_hold(ws: ServerConnection) -> None:
    # Answers every text message with {"echo": <text>}, every binary with bytes reversed.
    async for message in ws:
        if isinstance(message, str):
            await ws.send(json.dumps({"type": "echo", "text": message}))
        else:
            await ws.send(message[::-1])


def _require_key(connection: ServerConnection, request: Request) -> Response | None:
    if request.headers.get("Authorization") != "Bearer good-key":
        return connection.respond(401, "no\n")
    return None


@pytest.fixture
async def server_url(nursery: trio.Nursery) -> str:
    server = await nursery.start(
        lambda task_status: serve(
            _echo_then_hold,
            0,
            host="127.0.0.1",
            process_request=_require_key,
            task_status=task_status,
        )
    )
    port = server.listeners[0].socket.getsockname()[1]
    return f"ws://127.0.0.1:{port}/v1/responses"


async def test_connection_records_open_and_both_directions(
    server_url: str, nursery: trio.Nursery
) -> None:
    recorder = Recorder()
    conn = await open_connection(nursery, recorder, server_url, api_key="good-key", open_timeout=5)
    await conn.send_json({"type": "response.create", "input": "hi"})
    reply = await conn.expect_within(lambda m: m.type == "echo", 5)
    await conn.send_binary(b"\x00\x01\x02")
    back = await conn.expect_within(lambda m: m.kind == "binary", 5)
    await conn.close()

    kinds = [(r["kind"], r.get("dir")) for r in recorder.records]
    assert kinds == [
        ("open", None),
        ("text", "c2s"),
        ("text", "s2c"),
        ("binary", "c2s"),
        ("binary", "s2c"),
        ("close", "c2s"),
    ]
    assert recorder.records[0]["status"] == 101
    assert reply.event == {"type": "echo", "text": '{"type":"response.create","input":"hi"}'}
    assert back.data == b"\x02\x01\x00"
    assert recorder.records[3]["b64"] == base64.b64encode(b"\x00\x01\x02").decode()
    assert all(r["conn"] == "c1" for r in recorder.records)


async def test_open_record_keeps_a_key_fingerprint_never_the_key(
    server_url: str, nursery: trio.Nursery
) -> None:
    recorder = Recorder()
    conn = await open_connection(nursery, recorder, server_url, api_key="good-key", open_timeout=5)
    await conn.close()
    principal = recorder.records[0]["principal"]
    assert principal.startswith("key-sha256:")
    assert "good-key" not in json.dumps(recorder.records)


async def test_rejected_upgrade_is_recorded_with_its_status(
    server_url: str, nursery: trio.Nursery
) -> None:
    recorder = Recorder()
    with pytest.raises(Rejected) as raised:
        await open_connection(nursery, recorder, server_url, api_key="bad-key", open_timeout=5)
    assert raised.value.status == 401
    assert recorder.records == [
        {
            "ts": recorder.records[0]["ts"],
            "conn": "c1",
            "kind": "rejected",
            "url": server_url,
            "status": 401,
        }
    ]


async def test_expect_within_raises_after_the_timeout(
    server_url: str, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    recorder = Recorder()
    conn = await open_connection(nursery, recorder, server_url, api_key="good-key", open_timeout=5)
    start = trio.current_time()
    with pytest.raises(ExpectationTimeout) as raised:
        await conn.expect_within(lambda m: True, 7.5, what="a message nobody sends")
    assert trio.current_time() - start == pytest.approx(7.5)
    assert "7.5 s" in str(raised.value)
    await conn.close()


async def test_expect_nothing_during_returns_none_when_quiet_and_the_message_otherwise(
    server_url: str, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    recorder = Recorder()
    conn = await open_connection(nursery, recorder, server_url, api_key="good-key", open_timeout=5)
    assert await conn.expect_nothing_during(lambda m: True, 2.0) is None
    await conn.send_text("ping")
    echoed = await conn.expect_within(lambda m: m.type == "echo", 5)
    seen = await conn.expect_nothing_during(lambda m: m.type == "echo", 2.0)
    assert seen == echoed
    assert await conn.expect_nothing_during(lambda m: True, 2.0, since=echoed.index + 1) is None
    await conn.close()


async def test_expect_within_reports_a_close_by_the_server(nursery: trio.Nursery) -> None:
    async def close_at_once(ws: ServerConnection) -> None:
        await ws.aclose(1011, "boom")

    server = await nursery.start(
        lambda task_status: serve(close_at_once, 0, host="127.0.0.1", task_status=task_status)
    )
    port = server.listeners[0].socket.getsockname()[1]
    recorder = Recorder()
    conn = await open_connection(
        nursery, recorder, f"ws://127.0.0.1:{port}/", api_key=None, open_timeout=5
    )
    with pytest.raises(ConnectionClosedError) as raised:
        await conn.expect_within(lambda m: m.type == "never", 5)
    assert raised.value.code == 1011
    assert recorder.records[-1]["kind"] == "close"
    assert recorder.records[-1]["dir"] == "s2c"
    assert recorder.records[-1]["code"] == 1011
    assert isinstance(conn.messages[-1], Message)
    assert conn.messages[-1].close_code == 1011


async def test_plain_get_reports_the_http_status(server_url: str) -> None:
    recorder = Recorder()
    status = await http_get_status(recorder, server_url, api_key="good-key", within=5)
    # websockets answers a GET without upgrade headers with 426 Upgrade Required.
    assert status == 426
    assert recorder.records[0]["kind"] == "rejected"
    assert recorder.records[0]["status"] == 426


async def test_ping_and_its_pong_are_recorded_with_the_payload(
    server_url: str, nursery: trio.Nursery
) -> None:
    recorder = Recorder()
    conn = await open_connection(nursery, recorder, server_url, api_key="good-key", open_timeout=5)
    assert await conn.ping(5, b"rws-check")
    assert await conn.ping(5)
    await conn.close()
    control = [(r["kind"], r["dir"], r["b64"]) for r in recorder.records[1:-1]]
    first = base64.b64encode(b"rws-check").decode()
    second = recorder.records[3]["b64"]
    assert control == [
        ("ping", "c2s", first),
        ("pong", "s2c", first),
        ("ping", "c2s", second),
        ("pong", "s2c", second),
    ]
    assert second != first


async def test_server_ping_and_the_harness_pong_are_recorded(nursery: trio.Nursery) -> None:
    async def ping_then_greet(ws: ServerConnection) -> None:
        pong = await ws.ping(b"from-server")
        await pong.wait()
        await ws.send('{"type": "greeting"}')
        await ws.wait_closed()

    server = await nursery.start(
        lambda task_status: serve(ping_then_greet, 0, host="127.0.0.1", task_status=task_status)
    )
    port = server.listeners[0].socket.getsockname()[1]
    recorder = Recorder()
    conn = await open_connection(
        nursery, recorder, f"ws://127.0.0.1:{port}/", api_key=None, open_timeout=5
    )
    await conn.expect_within(lambda m: m.type == "greeting", 5)
    await conn.close()
    payload = base64.b64encode(b"from-server").decode()
    kinds = [(r["kind"], r.get("dir"), r.get("b64")) for r in recorder.records]
    assert kinds == [
        ("open", None, None),
        ("ping", "s2c", payload),
        ("pong", "c2s", payload),
        ("text", "s2c", None),
        ("close", "c2s", None),
    ]
