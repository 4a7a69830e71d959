"""The proxy's judge in a process of its own, and the pipe the I/O side feeds it through.

``responses-ws proxy`` starts ``python -m conformance.proxy.worker SETTINGS`` (the session's
settings as JSON) and writes the events of its I/O to the worker's standard input
(:class:`PipeTap`, :mod:`.tap`'s encoding). The worker judges them as they come
(:class:`~conformance.proxy.session.Session`), prints each violation as it is found, and at
the end of its input - the proxy closes it when the session ends, or the proxy is gone - ends
the session: the summary, the reports, and its exit status, which the proxy exits with.

The judge runs on the CPU time the peers and the proxy's forwarding leave (Linux's idle
scheduling class). The pipe is bounded: :class:`PipeTap` queues at most :data:`QUEUED` bytes of
events; when the judge falls that far behind, the proxy stops reading from the network until it
catches up (traffic slows down to what the judge checks; memory does not grow). Signals are the
proxy's business: the worker ignores SIGINT and SIGTERM (a terminal's Ctrl-C reaches both) and
ends when its input does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from conformance.proxy.tap import Decoder, Event, TapProtocolError, encode

__all__ = ["QUEUED", "PipeTap", "main", "settings_json"]

#: Bytes of events queued for the worker before the proxy waits for it to catch up.
QUEUED = 2 * 1024 * 1024


class PipeTap:
    """Sends events to the worker's standard input, in order, bounded: past :data:`QUEUED`
    bytes not yet taken by the worker, the proxy stops reading (``pause``) until the worker
    has caught up (``resume``)."""

    def __init__(self, writer: asyncio.StreamWriter, limit: int = QUEUED) -> None:
        self._writer = writer
        self._limit = limit
        self._chunks: list[bytes] = []
        self._waiting: asyncio.Task[None] | None = None
        self._pause: Callable[[], None] = lambda: None
        self._resume: Callable[[], None] = lambda: None
        self.broken: str | None = None
        writer.transport.set_write_buffer_limits(high=limit)

    def flow(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        """What to call when the worker falls behind, and when it has caught up."""
        self._pause = pause
        self._resume = resume

    def tell(self, event: Event) -> None:
        """Queue one event, in order."""
        if self.broken is None:
            self._chunks.append(encode(event))

    def flush(self) -> None:
        """Write what was told to the worker (the bytes it copies have been forwarded)."""
        if not self._chunks or self.broken is not None:
            self._chunks.clear()
            return
        transport = self._writer.transport
        if transport.is_closing():
            self._gone(ConnectionError("the judge's input is closed"))
            return
        transport.write(b"".join(self._chunks))
        self._chunks.clear()
        if self._waiting is None and transport.get_write_buffer_size() > self._limit:
            self._pause()
            self._waiting = asyncio.get_running_loop().create_task(self._drained())

    async def _drained(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._gone(exc)
        finally:
            self._waiting = None
            self._resume()

    def _gone(self, exc: BaseException) -> None:
        # The worker is gone: traffic still crosses, it is no longer judged.
        if self.broken is None:
            self.broken = f"the judge stopped ({type(exc).__name__}); traffic is not judged"
            print(f"responses-ws proxy: {self.broken}", file=sys.stderr, flush=True)

    async def close(self) -> None:
        """No more events: end the worker's input once everything is written."""
        self.flush()
        if self._waiting is not None:
            await self._waiting
        with contextlib.suppress(ConnectionError, OSError):
            self._writer.close()
            await self._writer.wait_closed()


def settings_json(args: dict[str, Any]) -> str:
    """The worker's argument: what it needs of the command's options, as JSON."""
    return json.dumps(args)


def _session(config: dict[str, Any]) -> Any:
    from conformance.checker import CheckerConfig
    from conformance.proxy.addresses import parse_upstream
    from conformance.proxy.console import Console
    from conformance.proxy.session import Session, Settings

    settings = Settings(
        upstream=parse_upstream(config["upstream"]),
        config=CheckerConfig(
            frozenset(config["profiles"]),
            dict(config["parameters"]),
            frozenset(config["roles"]),
        ),
        report_dir=Path(config["report_dir"]),
        compression=bool(config["compression"]),
        max_message_size=int(config["max_message_size"]),
        transcript_limit=int(config["transcript_limit"]),
        fail_on=str(config["fail_on"]),
    )
    console = Console(sys.stdout, informational=bool(config["informational"]))
    return Session(settings, console, time.monotonic)


def _yield_the_cpu() -> None:
    """The traffic first: the judge runs on the CPU time the peers and the proxy's forwarding
    leave (Linux's SCHED_IDLE, else a lower priority). It catches up between messages, and
    when it cannot, its bounded queue slows the traffic down until it does."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(AttributeError, OSError):
            os.nice(10)


def main(argv: Sequence[str] | None = None) -> int:
    """Judge the events on standard input; return the session's exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _yield_the_cpu()
    session = _session(json.loads(args[0]))
    decoder = Decoder()
    source = sys.stdin.buffer
    try:
        while True:
            data = source.read1(65536)  # type: ignore[union-attr]
            if not data:
                break
            for event in decoder.feed(data):
                session.apply(event)
    except TapProtocolError as exc:
        print(f"responses-ws proxy: the judge's input is broken: {exc}", file=sys.stderr)
    # The traffic is over: what is left to judge and report no longer waits for idle time.
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    session.summary()
    status: int = session.finish().status
    return status


if __name__ == "__main__":
    sys.exit(main())
