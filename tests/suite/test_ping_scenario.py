"""The ``handshake.ping-answered`` check against small servers: RWS-TRANS-9 from the records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
import trio.testing
from websockets.frames import Frame, Opcode
from websockets.trio.server import ServerConnection, serve

from conformance.harness.config import SuiteConfig
from conformance.harness.runner import run_scenario
from conformance.requirements import load_requirements
from conformance.results import Verdict
from conformance.scenarios import by_id

__all__: list[str] = []


async def _hold(ws: ServerConnection) -> None:
    await ws.wait_closed()


async def _hold_without_pongs(ws: ServerConnection) -> None:
    # websockets answers pings in its protocol layer; drop the pong frames it queues.
    send_frame = ws.protocol.send_frame

    def no_pong(frame: Frame) -> None:
        if frame.opcode is not Opcode.PONG:
            send_frame(frame)

    ws.protocol.send_frame = no_pong  # type: ignore[method-assign]
    await ws.wait_closed()


async def _serve(
    nursery: trio.Nursery, handler: Callable[[ServerConnection], Awaitable[None]]
) -> SuiteConfig:
    server = await nursery.start(
        lambda task_status: serve(handler, 0, host="127.0.0.1", task_status=task_status)
    )
    port = server.listeners[0].socket.getsockname()[1]
    return SuiteConfig(server_url=f"ws://127.0.0.1:{port}", api_key="k", timeout=5.0)


async def test_ping_check_passes_on_the_checkers_ping_records(nursery: trio.Nursery) -> None:
    config = await _serve(nursery, _hold)
    result = await run_scenario(by_id("handshake.ping-answered"), config, load_requirements())
    assert result.verdict is Verdict.PASSED, result.message
    assert result.details["exercised"]["RWS-TRANS-9"] == 2
    kinds = [(r["kind"], r.get("dir")) for r in result.wire_log]
    assert kinds.count(("ping", "c2s")) == kinds.count(("pong", "s2c")) == 2


async def test_ping_check_fails_when_no_pong_comes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    config = await _serve(nursery, _hold_without_pongs)
    result = await run_scenario(by_id("handshake.ping-answered"), config, load_requirements())
    assert result.verdict is Verdict.FAILED
    assert result.requirement_verdicts["RWS-TRANS-9"] is Verdict.FAILED
    # The checker's finding (from the records), beside the scenario's timeout.
    assert "expected a pong with the ping's payload" in result.message
