"""Load: 200 concurrent connections x 10 turns of ``conformance-1`` against one server process.

Every response must complete, every run's sequence numbers must be gapless from 0, and
nothing may be lost: each chain's last turn asks the model for its context digest, which
must equal the context the client assembled itself (previous context + output + new input,
RWS-CACHE-2). The test also measures the server's resident memory per idle connection
(fresh, and after its turns with an entry cached) and prints it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from websockets.trio.client import ClientConnection, connect

from reference_impl import model
from tests.reference_impl.driver import TERMINAL_TYPES, create
from tests.reference_impl.process import rss_bytes, server_process

__all__: list[str] = []

pytestmark = pytest.mark.slow

CONNECTIONS = 200
TURNS = 10
KEY = "load-key"


async def outcome(ws: ClientConnection) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] not in (*TERMINAL_TYPES, "error"):
        events.append(json.loads(await ws.recv()))
    return events


def check_run(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Assert one run is complete and gapless; return its terminal response."""
    assert events[-1]["type"] == "response.completed", events[-1]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    done = "".join(e["text"] for e in events if e["type"] == "response.output_text.done")
    assert deltas == done
    response: dict[str, Any] = events[-1]["response"]
    return response


class Barrier:
    """Wait until ``count`` tasks have arrived."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.reached = trio.Event()

    async def arrive_and_wait(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.reached.set()
        await self.reached.wait()


async def ping_session(ws: ClientConnection) -> None:
    # A round trip through the session proves the server has set the connection up.
    await ws.send("{}")
    (reply,) = await outcome(ws)
    assert reply["error"]["code"] == "unknown_event_type"


async def chain(
    url: str,
    index: int,
    completed: list[int],
    opened: Barrier,
    start: trio.Event,
    finished: Barrier,
    release: trio.Event,
) -> None:
    async with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ping_session(ws)
        await opened.arrive_and_wait()
        await start.wait()
        context: list[dict[str, Any]] = []
        previous: str | None = None
        for turn in range(TURNS):
            last = turn == TURNS - 1
            text = "rws:context" if last else f"rws:text length={10 + index % 50} chunks=4"
            fields: dict[str, Any] = {"store": turn % 2 == 0, "stream_id": f"c{index}"}
            if previous is not None:
                fields["previous_response_id"] = previous
            await ws.send(json.dumps(create(text, **fields)))
            response = check_run(await outcome(ws))
            context += model.normalize_input(text)
            if last:
                (item,) = response["output"]
                expected = f"context items={len(context)} digest={model.context_digest(context)}"
                assert item["content"][0]["text"] == expected
            context += response["output"]
            previous = response["id"]
            completed[index] += 1
        await finished.arrive_and_wait()
        await release.wait()


async def load(url: str, pid: int) -> dict[str, float]:
    completed = [0] * CONNECTIONS
    opened, finished = Barrier(CONNECTIONS), Barrier(CONNECTIONS)
    start, release = trio.Event(), trio.Event()
    # Warm up first, so that lazily built validators do not count as connection memory.
    async with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ws.send(json.dumps(create()))
        check_run(await outcome(ws))
    before = rss_bytes(pid)
    numbers: dict[str, float] = {}
    async with trio.open_nursery() as nursery:
        for index in range(CONNECTIONS):
            nursery.start_soon(chain, url, index, completed, opened, start, finished, release)
        await opened.reached.wait()
        numbers["idle_bytes_per_connection"] = (rss_bytes(pid) - before) / CONNECTIONS
        began = time.perf_counter()
        start.set()
        await finished.reached.wait()
        numbers["seconds_for_all_turns"] = time.perf_counter() - began
        numbers["idle_bytes_per_connection_after_turns"] = (rss_bytes(pid) - before) / CONNECTIONS
        release.set()
    assert completed == [TURNS] * CONNECTIONS
    return numbers


@pytest.mark.parametrize("io", ["asyncio", "trio"])
def test_200_connections_of_10_turns_complete_gapless(tmp_path: Path, io: str) -> None:
    """2000 runs over 200 concurrent connections: all complete, gapless, nothing lost."""
    with server_process(tmp_path, "--io", io, "--api-key", KEY) as (process, url):
        numbers = trio.run(load, url, process.pid)
    print(
        f"\nload ({io}): {CONNECTIONS} connections x {TURNS} turns in "
        f"{numbers['seconds_for_all_turns']:.2f} s; server RSS per idle connection: "
        f"{numbers['idle_bytes_per_connection'] / 1024:.1f} KiB fresh, "
        f"{numbers['idle_bytes_per_connection_after_turns'] / 1024:.1f} KiB after its turns"
    )
    # A generous bound that still catches a leak per connection.
    assert numbers["idle_bytes_per_connection"] < 2 * 1024 * 1024
