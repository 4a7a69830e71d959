"""The judge's queue is bounded: when the worker lags, the proxy stops reading, and reads again
once the worker has caught up (the pipe to the worker, on a real pipe)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from conformance.proxy.tap import Decoder, Event
from conformance.proxy.worker import PipeTap


async def _pipe_tap(limit: int) -> tuple[PipeTap, int, list[str]]:
    """A tap writing to a pipe nobody reads yet; what its flow control called, in order."""
    loop = asyncio.get_running_loop()
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()),
        os.fdopen(write_end, "wb", buffering=0),
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    calls: list[str] = []
    tap = PipeTap(writer, limit=limit)
    tap.flow(lambda: calls.append("pause"), lambda: calls.append("resume"))
    return tap, read_end, calls


async def _until(predicate: Callable[[], bool]) -> None:
    """Let the loop run (the tap's drain task) until ``predicate`` holds."""
    done = asyncio.Event()

    def check() -> None:
        if predicate():
            done.set()
        else:
            asyncio.get_running_loop().call_soon(check)

    check()
    await done.wait()


async def _lagging_worker_pauses_the_proxy_until_it_catches_up() -> None:
    tap, read_end, calls = await _pipe_tap(limit=64 * 1024)
    chunk = b"x" * 60_000
    told = 0
    while "pause" not in calls:  # the pipe and the tap's buffer fill up
        tap.tell(Event("data", 1, 0.0, "s2c", chunk))
        tap.flush()
        told += 1
    assert calls == ["pause"]
    # The worker reads everything: the tap resumes the proxy.
    decoder = Decoder()
    events: list[Event] = []
    loop = asyncio.get_running_loop()
    caught_up = asyncio.Event()

    def readable() -> None:
        while True:
            try:
                data = os.read(read_end, 1 << 20)
            except BlockingIOError:
                return
            events.extend(decoder.feed(data))
            if len(events) == told:
                caught_up.set()
                return

    loop.add_reader(read_end, readable)
    await caught_up.wait()
    await _until(lambda: "resume" in calls)
    loop.remove_reader(read_end)
    await tap.close()
    os.close(read_end)
    assert calls == ["pause", "resume"]
    assert all(e.data == chunk for e in events)


def test_lagging_worker_pauses_the_proxy_until_it_catches_up() -> None:
    asyncio.run(_lagging_worker_pauses_the_proxy_until_it_catches_up())
