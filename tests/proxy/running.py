"""Test helper: a proxy session running beside the test, in front of an upstream.

The proxy's I/O is asyncio; the tests drive clients and servers with trio. :func:`running_proxy`
runs a :class:`~conformance.proxy.server.ProxyServer` in a thread of its own (its own asyncio
loop), judging in that thread as the proxy command's worker would (a
:class:`~conformance.proxy.tap.LocalTap`), and yields a :class:`Running`: the URL clients
connect to, the findings told (in the order told), what the console printed, and
:meth:`Running.finish`, which waits until every connection has been judged to its end and ends
the session as SIGINT would.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ssl
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import trio

from conformance.checker import CheckerConfig
from conformance.proxy.addresses import Listen, parse_upstream
from conformance.proxy.console import Console
from conformance.proxy.live import LiveFinding
from conformance.proxy.server import ProxyServer
from conformance.proxy.session import Session, SessionEnd, Settings
from conformance.proxy.tap import LocalTap

__all__ = ["ProxyThread", "Recording", "Running", "running_proxy"]

T = TypeVar("T")


class Recording(Console):
    """A console that also keeps every finding told."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out, informational=True)
        self.told: list[LiveFinding] = []

    def finding(self, live: LiveFinding) -> None:
        self.told.append(live)
        super().finding(live)


class ProxyThread:
    """A :class:`ProxyServer` with an asyncio loop of its own, in a thread of its own."""

    def __init__(self, settings: Settings, session: Session, tls: ssl.SSLContext | None) -> None:
        self._settings = settings
        self._session = session
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started: Future[str] = Future()
        self.server: ProxyServer | None = None

    def start(self) -> str:
        """Start listening on a free loopback port; return the URL (blocks until it is)."""
        self._thread.start()
        return self._started.result()

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            self.server = ProxyServer(self._settings, LocalTap(self._session.apply), self._tls)
            url = loop.run_until_complete(self.server.start(Listen("127.0.0.1", 0)))
        except BaseException as exc:
            self._started.set_exception(exc)
            loop.close()
            return
        self._started.set_result(url)
        loop.run_forever()
        loop.run_until_complete(self.server.close())
        loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the proxy's loop; return its result (blocks)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def idle(self) -> None:
        """Block until no connection is being served."""
        assert self.server is not None
        self.call(self.server.idle())

    def stop(self) -> None:
        """Stop the proxy (dropping what is still open) and its thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()


@dataclass
class Running:
    """A running proxy session."""

    url: str
    proxy: ProxyThread
    session: Session
    console: Recording
    out: io.StringIO
    ended: list[SessionEnd] = field(default_factory=list)

    @property
    def told(self) -> list[LiveFinding]:
        """Every finding told so far."""
        return self.console.told

    def told_requirements(self) -> set[str | None]:
        """The requirements of the findings told so far."""
        return {f.finding.requirement for f in self.told}

    async def idle(self) -> None:
        """Wait until no connection is being served (each judged to its end)."""
        await trio.to_thread.run_sync(self.proxy.idle)

    async def finish(self, *, write: bool = True) -> SessionEnd:
        """Wait for every connection to be judged to its end, then end the session."""
        await self.idle()
        end = self.session.finish(write=write)
        self.ended.append(end)
        return end


@contextlib.asynccontextmanager
async def running_proxy(
    upstream: str,
    report_dir: Path,
    *,
    config: CheckerConfig | None = None,
    tls: ssl.SSLContext | None = None,
    compression: bool = True,
    open_timeout: float = 10.0,
) -> AsyncIterator[Running]:
    """A proxy in front of ``upstream`` for the block (its reports go to ``report_dir``)."""
    settings = Settings(
        upstream=parse_upstream(upstream),
        config=config or CheckerConfig.make(profiles=("core", "multiplex")),
        report_dir=report_dir,
        compression=compression,
        open_timeout=open_timeout,
    )
    out = io.StringIO()
    console = Recording(out)
    session = Session(settings, console, time.monotonic)
    proxy = ProxyThread(settings, session, tls)
    url = await trio.to_thread.run_sync(proxy.start)
    try:
        yield Running(url, proxy, session, console, out)
    finally:
        await trio.to_thread.run_sync(proxy.stop)
        session.finish(write=False)  # closes what is still open (no-op once finished)
