"""The fuzzer's oracle does not let a server that always rate-limits pass (RWS-LANE-11).

A tiny WebSocket server answers every message with ``rate_limit_exceeded``. Before, the oracle
accepted that code for any request and took an error answering the follow-up request as proof
that the connection was "still usable"; now the code is allowed only for a target declared
rate limited, and "usable" means a run completes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from conformance.fuzz.client import Tape, Target, WireClient
from conformance.fuzz.oracle import FuzzFailure, allowed_request_codes, follow_up, still_usable

__all__: list[str] = []

RATE_LIMIT = {
    "type": "error",
    "status": 429,
    "error": {
        "type": "rate_limit_error",
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached.",
        "param": None,
    },
}


def _answer_every_message_with_a_rate_limit(ws: ServerConnection) -> None:
    for _ in ws:
        ws.send(json.dumps(RATE_LIMIT))


@pytest.fixture
def rate_limiting_server() -> Iterator[str]:
    server: Server = serve(_answer_every_message_with_a_rate_limit, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.socket.getsockname()[:2]
        yield f"ws://{host}:{port}/v1/responses"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _target(url: str, *, rate_limited: bool) -> Target:
    return Target(
        url=url,
        api_key="k",
        model="conformance-1",
        profiles=frozenset({"core"}),
        timeout=2.0,
        rate_limited=rate_limited,
    )


def test_rate_limit_is_allowed_only_for_a_target_declared_rate_limited() -> None:
    event = follow_up("conformance-1")
    assert "rate_limit_exceeded" not in allowed_request_codes(
        event, _target("ws://unused", rate_limited=False)
    )
    assert "rate_limit_exceeded" in allowed_request_codes(
        event, _target("ws://unused", rate_limited=True)
    )


def test_a_server_that_always_rate_limits_is_not_still_usable(rate_limiting_server: str) -> None:
    client = WireClient(_target(rate_limiting_server, rate_limited=False), Tape())
    try:
        with pytest.raises(FuzzFailure, match="rate_limit_exceeded"):
            still_usable(client)
    finally:
        client.close()


def test_a_declared_rate_limit_on_the_follow_up_proves_nothing_either_way(
    rate_limiting_server: str,
) -> None:
    client = WireClient(_target(rate_limiting_server, rate_limited=True), Tape())
    try:
        assert still_usable(client) is client
    finally:
        client.close()
