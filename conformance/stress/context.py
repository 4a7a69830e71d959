"""What every probe is given: the target, the parameters, and the two measuring instruments.

:class:`ProbeContext` opens raw connections to the target, reads the declared limits, and
wraps the measurements every probe takes the same way: an idle baseline before the load, the
server process sampled throughout (when its pid is known), and the latency monitor's samples
of the load's window (when the monitor runs). A probe calls :meth:`ProbeContext.begin`, does
its load, calls :meth:`ProbeContext.load_ended`, lets its connections go, then
:meth:`ProbeContext.settle`; the context turns the samples of those moments into figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from conformance.stress.config import StressParams
from conformance.stress.figures import LatencyStats, MemoryStats, latency_stats, memory_stats
from conformance.stress.monitor import LatencyMonitor
from conformance.stress.procfs import ProcessSample, ProcessSampler
from conformance.stress.wire import RawConnection

__all__ = ["LoadWindow", "ProbeContext", "Target"]

#: Bound on opening one connection (TCP connect and upgrade).
OPEN_TIMEOUT = 10.0


@dataclass(frozen=True)
class Target:
    """The server under stress."""

    url: str  # the /v1/responses URL
    api_key: str | None
    model: str
    # Each server parameter with where its value comes from (config.declared_limits).
    limits: dict[str, tuple[str, str]]

    def limit(self, name: str) -> tuple[int | None, str]:
        """A numeric limit and its source; ``(None, source)`` when absent or not a number."""
        value, source = self.limits.get(name, (None, "not declared"))
        try:
            return (int(float(value)) if value is not None else None), source
        except ValueError:
            return None, source

    def seconds(self, name: str) -> tuple[float | None, str]:
        """A duration limit in seconds and its source; ``(None, source)`` when absent,
        ``none`` or not a number."""
        value, source = self.limits.get(name, (None, "not declared"))
        try:
            return (float(value) if value is not None else None), source
        except ValueError:
            return None, source


@dataclass
class LoadWindow:
    """The moments of one load (time.monotonic())."""

    before: ProcessSample | None  # the server just before the load
    start: float
    end: float | None = None


class ProbeContext:
    """Shared by the probes of one run (module docstring)."""

    def __init__(
        self,
        target: Target,
        params: StressParams,
        *,
        sampler: ProcessSampler | None,
        monitor: LatencyMonitor | None,
        memory_note: str,
        latency_note: str,
        log: Callable[[str], None],
    ) -> None:
        self.target = target
        self.params = params
        self.sampler = sampler
        self.monitor = monitor
        self.memory_note = memory_note  # why there are no memory figures, when there are none
        self.latency_note = latency_note
        self.log = log
        # Every connection a probe opened, so that the runner can abort what a probe that
        # overran its bound or failed left open (the next probe must start on a quiet server).
        self._opened: list[RawConnection] = []

    async def open(self, *, compression: bool = False) -> RawConnection:
        """A new connection to the target (raises ConnectFailed)."""
        conn = await RawConnection.open(
            self.target.url,
            api_key=self.target.api_key,
            compression=compression,
            timeout=OPEN_TIMEOUT,
        )
        self._opened.append(conn)
        return conn

    async def abort_all(self) -> None:
        """Abort every connection the probe opened (those it closed already are no-ops)."""
        with trio.CancelScope(shield=True):
            for conn in self._opened:
                await conn.abort()
        self._opened.clear()

    async def baseline(self) -> None:
        """Stay idle for the baseline time, so that the window before a load is quiet."""
        await trio.sleep(self.params.baseline_s)

    async def begin(self) -> LoadWindow:
        """Mark the start of a load: reset the server's peak RSS, take a sample, and have
        the monitor send a request now."""
        before = None
        if self.sampler is not None:
            before = self.sampler.sample()
            self.sampler.reset_peak()
        window = LoadWindow(before=before, start=time.monotonic())
        if self.monitor is not None:
            await self.monitor.poke()
        return window

    async def poke(self) -> None:
        """Have the monitor send a request now (the server just got busy)."""
        if self.monitor is not None:
            await self.monitor.poke()

    def load_ended(self, window: LoadWindow) -> None:
        """Mark the end of the load (before its connections are let go)."""
        # The sample first: the window's last sample is then inside it.
        if self.sampler is not None:
            self.sampler.sample()
        window.end = time.monotonic()

    async def settle(self) -> None:
        """Wait the settle time after the connections left (the server frees what it held)."""
        await trio.sleep(self.params.settle_s)

    def memory(self, window: LoadWindow) -> MemoryStats | None:
        """The server's memory over the window, ``after`` being now (call after settle)."""
        if self.sampler is None:
            return None
        after = self.sampler.sample()
        end = window.end if window.end is not None else time.monotonic()
        return memory_stats(
            self.sampler.samples,
            before=window.before,
            t0=window.start,
            t1=end,
            after=after,
            hwm_reset=bool(self.sampler.hwm_reset_works),
        )

    async def latency(self, t0: float, t1: float) -> LatencyStats | None:
        """What the monitor saw from ``t0`` to ``t1``, once the requests in flight at ``t1``
        have finished."""
        if self.monitor is None:
            return None
        await self.monitor.wait_past(t1)
        created = self.monitor.window(t0, t1)
        if not created:
            return None
        return latency_stats(created, self.monitor.window(t0, t1, kind="handshake"))

    def notes(self, memory: MemoryStats | None, latency: LatencyStats | None) -> list[str]:
        """Why memory or latency figures are missing, when they are."""
        out = []
        if memory is None:
            out.append(f"server memory not measured: {self.memory_note}")
        if latency is None:
            out.append(f"other connection's latency not measured: {self.latency_note}")
        return out

    def instruments(self) -> str:
        """How memory and latency were measured (the same for every probe of a run: the
        pids are in each report's ``server``)."""
        parts = []
        if self.sampler is not None:
            how = (
                "with VmHWM reset before each load (clear_refs), so the peak includes spikes "
                "between samples"
                if self.sampler.hwm_reset_works
                else "peak from the samples (VmHWM could not be reset)"
            )
            parts.append(
                f"server memory: VmRSS of /proc/<server pid>/status every "
                f"{self.sampler.interval:g} s, {how}; server CPU time from /proc/<server pid>/stat"
            )
        if self.monitor is not None:
            parts.append(
                "latency: a separate process on its own connection sends a small "
                f"response.create every {self.params.monitor_interval_s:g} s and times the send "
                "to its response.created (a request in flight during the load counts for the "
                f"load; none within {self.params.monitor_timeout_s:g} s, an error or a close "
                f"is a lost request); every {self.params.monitor_handshake_every}th request it "
                "also times a fresh handshake (TCP connect to 101)"
            )
        return "; ".join(parts) or "no memory or latency instrument was available"
