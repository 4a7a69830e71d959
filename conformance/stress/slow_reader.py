"""Probe ``slow-reader``: a client that reads at 2 MB/s while the server could send faster.

One connection keeps ``slow-reader.requests`` runs of long output outstanding on its default
lane (conformance-1: ``rws:text length=1000000 chunks=1000``, about 5 MB of events each;
a new request each time a run ends) and reads at ``slow-reader.read-mb-per-s``, answering
pings as it reads them, for ``slow-reader.seconds``. Then it leaves without a closing
handshake. A server without backpressure holds everything it produced and the client has
not read: its memory grows for as long as the client is connected. Figures: what the client
read, the server's RSS before, at peak and after the client left, and what the latency
monitor saw meanwhile. Rules: peak RSS within ``limits.rss-mib``, what the server still holds
after the client left within ``limits.retained-mib``, the monitor within ``limits.latency-s``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import trio

from conformance.stress.context import ProbeContext
from conformance.stress.figures import (
    Figure,
    LatencyStats,
    MemoryStats,
    ProbeReport,
    Rule,
    at_most,
    latency_rule,
    retained_rule,
)
from conformance.stress.messages import TERMINAL_EVENTS, is_conformance_model, long_output_request
from conformance.stress.tally import Tally, read_allowance
from conformance.stress.wire import RawConnection

__all__ = ["SlowReaderObservation", "budget", "judge", "run"]

_READ_CAP = 65536


@dataclass
class SlowReaderObservation:
    """What the slow connection did and saw."""

    seconds: float  # time spent reading
    bytes_read: int  # wire bytes
    requests_sent: int
    request_text: str  # what each request asks for
    tally: Tally
    ended: str | None  # how the connection ended before the client left, if it did


def budget(ctx: ProbeContext) -> float:
    """Upper bound of the probe's duration (the runner cancels it after that)."""
    p = ctx.params
    return p.baseline_s + p.slow_seconds + p.settle_s + 2 * p.monitor_timeout_s + 30


async def _read_slowly(
    conn: RawConnection, ctx: ProbeContext, request: bytes, obs: SlowReaderObservation
) -> None:
    p = ctx.params
    rate = p.slow_read_mb_per_s * 1e6
    start = time.monotonic()
    while not conn.eof:
        allowed, wait = read_allowance(rate, time.monotonic() - start, conn.bytes_read, _READ_CAP)
        if wait:
            await trio.sleep(wait)
            continue
        for message in await conn.receive(allowed):
            obs.tally.add(message)
            if message.event_type in TERMINAL_EVENTS:
                # Keep the lane busy: a run that ended is replaced (a refused one is not, so
                # a server that bounds its queue keeps it at its bound).
                await conn.send_message(request)
                obs.requests_sent += 1
        obs.bytes_read = conn.bytes_read
        obs.seconds = time.monotonic() - start
    obs.ended = _how_it_ended(conn)


def _how_it_ended(conn: RawConnection) -> str:
    if conn.close_frame is not None:
        return f"the server closed it with {conn.close_frame.describe()}"
    return conn.broken or "the server ended the TCP connection without a close frame"


async def run(ctx: ProbeContext) -> ProbeReport:
    """Run the probe (module docstring)."""
    p = ctx.params
    request = long_output_request(ctx.target.model, p.run_chars, p.run_chunks)
    await ctx.baseline()
    conn = await ctx.open()
    window = await ctx.begin()
    obs = SlowReaderObservation(
        0.0, 0, 0, _request_text(ctx.target.model, p.run_chars, p.run_chunks), Tally(), None
    )
    try:
        with trio.move_on_after(p.slow_seconds):
            for _ in range(p.slow_requests):
                await conn.send_message(request)
                obs.requests_sent += 1
            await _read_slowly(conn, ctx, request, obs)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        obs.ended = f"sending failed: {exc}"
    obs.bytes_read = conn.bytes_read
    obs.seconds = time.monotonic() - window.start
    ctx.load_ended(window)
    await conn.abort()
    await ctx.settle()
    memory = ctx.memory(window)
    assert window.end is not None
    latency = await ctx.latency(window.start, window.end)
    return judge(obs, memory, latency, ctx)


def _request_text(model: str, chars: int, chunks: int) -> str:
    if is_conformance_model(model):
        return f"conformance-1 `rws:text length={chars} chunks={chunks}`"
    return f"{model}, asked in words for a long answer (max_output_tokens {max(16, chars // 4)})"


def judge(
    obs: SlowReaderObservation,
    memory: MemoryStats | None,
    latency: LatencyStats | None,
    ctx: ProbeContext,
) -> ProbeReport:
    """The report of an observation (pure: figures and rules from what was measured)."""
    p = ctx.params
    rate = obs.bytes_read / obs.seconds / 1e6 if obs.seconds > 0 else None
    figures = [
        Figure("read_seconds", "reading time", obs.seconds, "s"),
        Figure("bytes_read_mb", "bytes read", obs.bytes_read / 1e6, "MB"),
        Figure("read_rate_mb_s", "mean reading rate", rate, "MB/s"),
        Figure("requests_sent", "requests sent", obs.requests_sent),
        Figure("runs_ended", "runs read to their end", obs.tally.terminal),
        Figure("errors", "error events", obs.tally.error_count),
    ]
    rules: list[Rule | None] = []
    if memory is not None:
        figures += memory.figures()
        rules.append(
            at_most("server peak RSS", memory.peak, p.rss_limit_mib, "MiB", "limits.rss-mib")
        )
        rules.append(retained_rule(memory, p.retained_limit_mib))
    if latency is not None:
        figures += latency.figures()
    rules.append(latency_rule(latency, p.latency_limit_s, "while the slow client reads"))
    came_back = obs.tally.describe()
    if obs.ended:
        came_back += f"; before the client left, {obs.ended}"
    else:
        came_back += "; the connection was still open when the client left"
    return ProbeReport(
        probe="slow-reader",
        title="a client reading at a bounded rate while runs stream faster than it reads",
        sent=(
            f"{obs.requests_sent} response.create on the default lane ({obs.request_text}, "
            f"store false; up to {p.slow_requests} outstanding, one more each time a run "
            f"ended), read at {p.slow_read_mb_per_s:g} MB/s answering pings for "
            f"{p.slow_seconds:g} s, then the TCP connection was closed without a closing "
            "handshake"
        ),
        came_back=came_back,
        measured=(
            "wire bytes read through a token bucket (the mean rate never exceeds the set rate)"
        ),
        instruments=ctx.instruments(),
        figures=tuple(figures),
        rules=tuple(r for r in rules if r is not None),
        notes=tuple(ctx.notes(memory, latency)),
        params=p.subset("slow-reader.", "limits."),
    )
