"""Both drivers serve HTTP and WebSocket mode on one port (spec section 13), in process.

The clients are the standard library's ``http.client`` and websockets' sync client, run in a
worker thread, so one test body serves both drivers: what the sans-I/O front answers is tested
in test_http_routes.py; here is what the drivers add - the hand-off of upgrades, keep-alive,
runs paced and persisted by the event loop, and a clean shutdown with a stream still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import trio
from websockets.sync.client import connect

from reference_impl import server, server_asyncio
from reference_impl.server import DEVELOPMENT_KEY, ServerConfig
from tests.reference_impl.http_driver import parse_sse

T = TypeVar("T")
AUTH = {"Authorization": f"Bearer {DEVELOPMENT_KEY}", "Content-Type": "application/json"}
BODY = {"model": "conformance-1", "input": "rws:text length=40 chunks=4"}
# A run that lasts: its events are paced (rws:delay), so it is still streaming when asked to stop.
SLOW = {"model": "conformance-1", "input": "rws:delay ms=200\nrws:text length=40 chunks=40"}


def _in_both(client: Callable[[str], T], config: ServerConfig) -> dict[str, T]:
    """Run ``client(ws_url)`` in a thread against each driver; return its result by driver."""

    async def on_asyncio() -> T:
        async with server_asyncio.serve(config) as running:
            return await asyncio.to_thread(client, running.url)

    async def on_trio() -> T:
        async with trio.open_nursery() as nursery:
            running = await nursery.start(server.serve, config)
            result = await trio.to_thread.run_sync(client, running.url)
            nursery.cancel_scope.cancel()
        return result

    return {"asyncio": asyncio.run(on_asyncio()), "trio": trio.run(on_trio)}


@contextlib.contextmanager
def _http(ws_url: str) -> Iterator[http.client.HTTPConnection]:
    parts = urlsplit(ws_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def _post(conn: http.client.HTTPConnection, body: dict[str, Any]) -> tuple[int, str, bytes]:
    conn.request("POST", "/v1/responses", json.dumps(body), AUTH)
    answer = conn.getresponse()
    return answer.status, answer.getheader("content-type", ""), answer.read()


def test_http_and_websocket_share_the_port() -> None:
    def client(ws_url: str) -> tuple[list[str], list[str], int]:
        with _http(ws_url) as conn:
            status, kind, body = _post(conn, {**BODY, "stream": True})
            assert (status, kind) == (200, "text/event-stream")
            streamed = [name or "" for name, _ in parse_sse(body)]
            # Keep-alive: the next request goes over the same socket.
            sock = conn.sock
            status, _, body = _post(conn, BODY)
            assert status == 200
            assert conn.sock is sock
            stored = json.loads(body)
            conn.request("GET", f"/v1/responses/{stored['id']}", headers=AUTH)
            found = conn.getresponse()
            assert json.loads(found.read()) == stored
        with connect(ws_url, additional_headers=AUTH) as ws:
            # The WebSocket continues what HTTP stored (RWS-HTTP-2, RWS-CACHE-3).
            ws.send(
                json.dumps(
                    {"type": "response.create", **BODY, "previous_response_id": stored["id"]}
                )
            )
            events = [json.loads(ws.recv())]
            while events[-1]["type"] not in ("response.completed", "error"):
                events.append(json.loads(ws.recv()))
        return streamed, [e["type"] for e in events], found.status

    for driver, (streamed, over_ws, found) in _in_both(client, ServerConfig(port=0)).items():
        assert streamed[0] == "response.created", driver
        assert streamed[-1] == "response.completed", driver
        assert over_ws[-1] == "response.completed", driver
        assert found == 200, driver


def test_a_plain_get_and_an_unknown_route_keep_their_answers() -> None:
    def client(ws_url: str) -> tuple[int, int, int]:
        with _http(ws_url) as conn:
            conn.request("GET", "/v1/responses")
            plain = conn.getresponse()
            plain.read()
        with _http(ws_url) as conn:
            conn.request("POST", "/v1/elsewhere", "{}", AUTH)
            elsewhere = conn.getresponse()
            elsewhere.read()
            conn.request("POST", "/v1/responses", json.dumps(BODY), {"Content-Type": "x"})
            unauthorised = conn.getresponse()
            unauthorised.read()
        return plain.status, elsewhere.status, unauthorised.status

    for driver, statuses in _in_both(client, ServerConfig(port=0)).items():
        # RWS-TRANS-4 (the WebSocket server's answer), a route of no one, RWS-HTTP-11.
        assert statuses == (426, 404, 401), driver


@pytest.mark.parametrize("io", ["asyncio", "trio"])
def test_the_server_stops_with_a_stream_still_open(io: str) -> None:
    """Shutting down ends an HTTP connection in the middle of its run, and returns."""
    config = ServerConfig(port=0)

    def start_stream(ws_url: str) -> http.client.HTTPConnection:
        parts = urlsplit(ws_url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        conn.request("POST", "/v1/responses", json.dumps({**SLOW, "stream": True}), AUTH)
        answer = conn.getresponse()
        assert answer.readline().startswith(b"event: response.created")
        return conn

    def finish(conn: http.client.HTTPConnection) -> bytes:
        try:
            with contextlib.suppress(http.client.HTTPException, OSError):
                assert conn.sock is not None
                with conn.sock.makefile("rb") as rest:
                    return rest.read()
            return b""
        finally:
            conn.close()

    async def on_asyncio() -> bytes:
        async with server_asyncio.serve(config) as running:
            conn = await asyncio.to_thread(start_stream, running.url)
        # The server has stopped: the body ends without the run's terminal event.
        return await asyncio.to_thread(finish, conn)

    async def on_trio() -> bytes:
        async with trio.open_nursery() as nursery:
            running = await nursery.start(server.serve, config)
            conn = await trio.to_thread.run_sync(start_stream, running.url)
            nursery.cancel_scope.cancel()
        return await trio.to_thread.run_sync(finish, conn)

    rest = asyncio.run(on_asyncio()) if io == "asyncio" else trio.run(on_trio)
    assert b"response.completed" not in rest
