"""Probe ``stalled-reader``: a client that sends requests and then reads nothing at all.

One connection sends ``stalled-reader.requests`` runs of long output (as the slow reader
does) and then reads nothing for ``stalled-reader.seconds``, so it cannot even answer pings.
The kernel buffers fill, and the server must either hold what its runs produce or apply a
policy (stop producing, close the connection). Figures: the server's RSS during the stall;
when the server closed its socket (the state of the *server's* socket in /proc/net/tcp:
a close cannot reach a client whose receive window is full, so the client cannot tell);
what was queued in the kernel on both sides; and, after the stall, what a full-speed drain
of ``stalled-reader.drain-seconds`` found at the end of the stream (the close frame and its
code, or a stream cut without one), next to the ``write-timeout`` the server declares
(RWS-LIMIT-13: a note, never a finding: closing is permitted, not required). Rules: peak RSS
within ``limits.rss-mib``, RSS once the client left within ``limits.retained-mib`` of where
it was, and the latency monitor within ``limits.latency-s``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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
from conformance.stress.messages import is_conformance_model, long_output_request
from conformance.stress.procfs import find_socket, tcp_states
from conformance.stress.tally import Tally
from conformance.stress.wire import RawConnection

__all__ = ["StalledObservation", "budget", "judge", "run"]

_POLL = 0.5


@dataclass
class StalledObservation:
    """What the stalled connection did and what could be seen of it."""

    requests_sent: int = 0
    request_text: str = ""
    stall_seconds: float = 0.0
    observable: bool = False  # the server's socket was found in /proc/net/tcp
    server_closed_after: float | None = None  # from the start of the stall
    server_state: str | None = None  # the server socket's last state ("gone": no longer listed)
    server_send_queue_max: int = 0  # bytes in the server's kernel send queue
    client_receive_queue_max: int = 0  # bytes in the client's kernel receive queue
    drain_seconds: float = 0.0
    drained_bytes: int = 0
    drain_reached_end: bool = False
    drain: Tally = field(default_factory=Tally)
    ended: str | None = None  # how the stream ended, as the drain found it


def budget(ctx: ProbeContext) -> float:
    """Upper bound of the probe's duration."""
    p = ctx.params
    return (
        p.baseline_s + p.stall_seconds + p.drain_seconds + p.settle_s + 2 * p.monitor_timeout_s + 30
    )


async def _stall(conn: RawConnection, obs: StalledObservation, seconds: float) -> None:
    """Read nothing for ``seconds``, watching both sockets in /proc/net/tcp."""
    addresses = conn.addresses()
    start = time.monotonic()
    while True:
        now = time.monotonic()
        obs.stall_seconds = now - start
        if addresses is not None:
            local, peer = addresses
            entries = tcp_states()
            server = find_socket(entries, peer, local)
            client = find_socket(entries, local, peer)
            if server is not None:
                obs.observable = True
                obs.server_state = server.state
                obs.server_send_queue_max = max(obs.server_send_queue_max, server.tx_queue)
            elif obs.observable:
                obs.server_state = "gone"
            if client is not None:
                obs.client_receive_queue_max = max(obs.client_receive_queue_max, client.rx_queue)
            if obs.observable and obs.server_state != "ESTABLISHED":
                obs.server_closed_after = obs.stall_seconds
                return
        if obs.stall_seconds >= seconds:
            return
        await trio.sleep(min(_POLL, max(0.0, seconds - obs.stall_seconds)))


async def _drain(conn: RawConnection, obs: StalledObservation, seconds: float) -> None:
    start = time.monotonic()
    before = conn.bytes_read
    with trio.move_on_after(seconds):
        while not conn.eof:
            obs.drain.add_all(await conn.receive(1 << 20))
    obs.drain_seconds = time.monotonic() - start
    obs.drained_bytes = conn.bytes_read - before
    obs.drain_reached_end = conn.eof
    if conn.close_frame is not None:
        obs.ended = f"a close frame, {conn.close_frame.describe()}"
    elif conn.eof:
        obs.ended = conn.broken or "the stream ended without a close frame"


async def run(ctx: ProbeContext) -> ProbeReport:
    """Run the probe (module docstring)."""
    p = ctx.params
    model = ctx.target.model
    request = long_output_request(model, p.run_chars, p.run_chunks)
    obs = StalledObservation(
        request_text=(
            f"conformance-1 `rws:text length={p.run_chars} chunks={p.run_chunks}`"
            if is_conformance_model(model)
            else f"{model}, asked in words for a long answer"
        )
    )
    await ctx.baseline()
    conn = await ctx.open()
    window = await ctx.begin()
    try:
        with trio.move_on_after(p.stall_seconds):
            for _ in range(p.stall_requests):
                await conn.send_message(request)
                obs.requests_sent += 1
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        obs.ended = f"sending failed: {exc}"
    await _stall(conn, obs, max(0.0, p.stall_seconds - (time.monotonic() - window.start)))
    ctx.load_ended(window)
    await _drain(conn, obs, p.drain_seconds)
    await conn.abort()
    await ctx.settle()
    memory = ctx.memory(window)
    assert window.end is not None
    latency = await ctx.latency(window.start, window.end)
    return judge(obs, memory, latency, ctx)


def _write_timeout_notes(obs: StalledObservation, timeout: float | None, source: str) -> list[str]:
    """What the close (or its absence) says next to the declared ``write-timeout``.

    RWS-LIMIT-13 lets a server close a client that takes nothing for its ``write-timeout``;
    it need not, and may close for another reason (a keepalive timeout, RWS-TRANS-18), so
    these are notes, never findings. The server's clock starts when the kernel buffers are
    full, after the stall began: a close for this reason comes at least ``write-timeout``
    into the stall."""
    if not obs.observable:
        return []
    closed = obs.server_closed_after
    if timeout is None:
        if closed is None:
            return []
        return [
            f"the server closed a client that read nothing {closed:.1f} s into the stall "
            "without declaring a write-timeout (RWS-LIMIT-13; declare it with --server-param "
            "or advertise it)"
        ]
    if closed is not None:
        if closed >= timeout:
            return [
                f"the server closed {closed:.1f} s into the stall, its write-timeout "
                f"{timeout:g} s ({source}) counting from when the kernel buffers were full "
                "(RWS-LIMIT-13)"
            ]
        return [
            f"the server closed {closed:.1f} s into the stall, before its write-timeout "
            f"{timeout:g} s ({source}): for another reason than RWS-LIMIT-13 (a keepalive "
            "timeout?)"
        ]
    if obs.stall_seconds < timeout:
        return [
            f"the stall ({obs.stall_seconds:.1f} s) was shorter than the write-timeout "
            f"{timeout:g} s ({source}): a longer stalled-reader.seconds shows the close"
        ]
    return [
        f"the server kept the connection although the stall outlasted its write-timeout "
        f"{timeout:g} s ({source}); closing is permitted (RWS-LIMIT-13), not required"
    ]


def judge(
    obs: StalledObservation,
    memory: MemoryStats | None,
    latency: LatencyStats | None,
    ctx: ProbeContext,
) -> ProbeReport:
    """The report of an observation (pure)."""
    p = ctx.params
    figures = [
        Figure("requests_sent", "requests sent", obs.requests_sent),
        Figure("stall_seconds", "time without reading", obs.stall_seconds, "s"),
        Figure(
            "server_closed_after_s",
            "server closed its socket after",
            obs.server_closed_after if obs.observable else None,
            "s",
        ),
        Figure("server_socket_state", "server socket state", obs.server_state),
        Figure(
            "server_send_queue_max_mb",
            "server kernel send queue, max",
            obs.server_send_queue_max / 1e6 if obs.observable else None,
            "MB",
        ),
        Figure(
            "client_receive_queue_max_mb",
            "client kernel receive queue, max",
            obs.client_receive_queue_max / 1e6 if obs.observable else None,
            "MB",
        ),
        Figure("drained_mb", "bytes drained after the stall", obs.drained_bytes / 1e6, "MB"),
        Figure("drain_seconds", "drain time", obs.drain_seconds, "s"),
        Figure("stream_end", "end of the stream", obs.ended or "not reached"),
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
    rules.append(latency_rule(latency, p.latency_limit_s, "while a client has stalled"))
    timeout, source = ctx.target.seconds("write-timeout")
    figures.append(Figure("write_timeout_s", f"write-timeout ({source})", timeout, "s"))
    notes = ctx.notes(memory, latency)
    notes += _write_timeout_notes(obs, timeout, source)
    if not obs.observable:
        notes.append(
            "the server's socket is not in this machine's /proc/net/tcp (not a local server): "
            "when it closed the connection can only be seen by draining"
        )
    if obs.observable and obs.server_closed_after is None:
        closed = f"the server kept the connection open for the whole {obs.stall_seconds:.1f} s"
    elif obs.server_closed_after is not None:
        closed = (
            f"the server closed its socket {obs.server_closed_after:.1f} s into the stall "
            f"(its state: {obs.server_state})"
        )
    else:
        closed = "when the server closed could not be seen"
    drained = (
        f"a drain of {obs.drain_seconds:.1f} s read {obs.drained_bytes / 1e6:,.1f} MB "
        f"({obs.drain.describe()}) and "
        + (f"reached the end: {obs.ended}" if obs.drain_reached_end else "did not reach the end")
    )
    return ProbeReport(
        probe="stalled-reader",
        title="a client that stops reading while its runs stream",
        sent=(
            f"{obs.requests_sent} response.create on the default lane ({obs.request_text}, "
            f"store false), then nothing was read for {p.stall_seconds:g} s (pings "
            f"unanswered), then a full-speed drain of at most {p.drain_seconds:g} s"
        ),
        came_back=f"{closed}; {drained}",
        measured=(
            "the server's and the client's sockets in /proc/net/tcp every 0.5 s (state, "
            "kernel queues)"
        ),
        instruments=ctx.instruments(),
        figures=tuple(figures),
        rules=tuple(r for r in rules if r is not None),
        notes=tuple(notes),
        params=p.subset("stalled-reader.", "slow-reader.run", "limits."),
    )
