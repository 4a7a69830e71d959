"""Probe ``queue-flood``: many large requests queued behind a long run on one lane.

One connection starts a long run on its default lane (conformance-1: one paced delta every
100 ms for ``queue-flood.hold-seconds``), waits for its ``response.created``, then sends
``queue-flood.requests`` requests of ``queue-flood.request-mb`` each on the same lane. They
must wait (RWS-LANE-2, ``busy-lane`` ``queue``) or be refused: a server may bound the number
or the total size of the requests waiting and answer beyond either bound with
``rate_limit_exceeded`` (RWS-LANE-11; the bounds are the ``max-queued-requests`` and
``max-queued-bytes`` parameters). The connection reads everything as it arrives. Once the
long run has ended, the probe waits up to ``queue-flood.answer-seconds`` for every queued
request's outcome (``response.created``: it was accepted; an error: refused). Figures: how
many were accepted and refused, and their bytes, the server's RSS growth while the queue was
held (from the first queued request to the long run's end) and what it still held once the
connection left, the latency monitor. Rules: growth within ``limits.growth-mib`` unless the
server refused every request beyond one of its declared bounds (then the growth is what its
bound lets wait: a figure, not a finding); what is kept within ``limits.retained-mib``; no
more accepted than a declared ``max-queued-requests``, nor more bytes than a declared
``max-queued-bytes``; the monitor within ``limits.latency-s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
from conformance.stress.messages import long_run_request, padded_request
from conformance.stress.tally import Tally
from conformance.stress.wire import RawConnection

__all__ = ["QueueObservation", "budget", "judge", "run"]


@dataclass
class QueueObservation:
    """What the flooding connection sent and got."""

    requests: int = 0  # queued requests sent
    request_bytes: int = 0
    send_seconds: float = 0.0
    long_run_started: bool = False
    long_run_ended: bool = False  # its terminal event arrived
    long_run_ended_before_flood: bool = False  # the lane may not have been busy throughout
    held_seconds: float = 0.0  # from the first queued request to the long run's end
    tally: Tally = field(default_factory=Tally)
    ended: str | None = None  # how the connection ended, if the server ended it

    @property
    def accepted(self) -> int:
        """Queued requests that started (response.created), the long run's not counted."""
        return max(0, self.tally.created - (1 if self.long_run_started else 0))

    @property
    def refused(self) -> int:
        """Queued requests answered with rate_limit_exceeded."""
        return self.tally.errors.get("rate_limit_exceeded", 0)

    @property
    def other_errors(self) -> int:
        """Queued requests answered with another error."""
        return self.tally.error_count - self.refused

    @property
    def unresolved(self) -> int:
        """Queued requests with no outcome by the end."""
        return max(0, self.requests - self.accepted - self.tally.error_count)


def budget(ctx: ProbeContext) -> float:
    """Upper bound of the probe's duration."""
    p = ctx.params
    return (
        p.baseline_s
        + 2 * p.queue_hold_s
        + p.queue_answer_s
        + p.settle_s
        + 2 * p.monitor_timeout_s
        + 40
    )


async def _read(conn: RawConnection, obs: QueueObservation, changed: list[trio.Event]) -> None:
    while not conn.eof:
        messages = await conn.receive(1 << 20)
        obs.tally.add_all(messages)
        if messages:
            changed[0].set()
            changed[0] = trio.Event()
    changed[0].set()


async def _until(condition: Callable[[], bool], changed: list[trio.Event], seconds: float) -> bool:
    """Wait until ``condition()`` holds (re-checked after each read), at most ``seconds``."""
    with trio.move_on_after(seconds):
        while not condition():
            await changed[0].wait()
        return True
    return False


async def run(ctx: ProbeContext) -> ProbeReport:
    """Run the probe (module docstring)."""
    p = ctx.params
    model = ctx.target.model
    queued = padded_request(model, int(p.queue_request_mb * 1e6))
    obs = QueueObservation(request_bytes=len(queued))
    await ctx.baseline()
    conn = await ctx.open()
    changed = [trio.Event()]
    window = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_read, conn, obs, changed)
        try:
            await conn.send_message(long_run_request(model, p.queue_hold_s))
            obs.long_run_started = await _until(
                lambda: obs.tally.created >= 1, changed, ctx.params.monitor_timeout_s
            )
            window = await ctx.begin()
            with trio.move_on_after(p.queue_hold_s + p.queue_answer_s):
                for _ in range(p.queue_requests):
                    await conn.send_message(queued)
                    obs.requests += 1
            obs.send_seconds = time.monotonic() - window.start
            obs.long_run_ended_before_flood = obs.tally.terminal > 0
            await _until(lambda: obs.tally.terminal > 0 or conn.eof, changed, p.queue_hold_s + 5)
            obs.long_run_ended = obs.tally.terminal > 0
            obs.held_seconds = time.monotonic() - window.start
            ctx.load_ended(window)
            await _until(
                lambda: obs.accepted + obs.tally.error_count >= obs.requests or conn.eof,
                changed,
                p.queue_answer_s,
            )
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            obs.ended = f"sending failed: {exc}"
        nursery.cancel_scope.cancel()
    if conn.close_frame is not None:
        obs.ended = f"the server closed the connection with {conn.close_frame.describe()}"
    elif conn.eof and obs.ended is None:
        obs.ended = conn.broken or "the server ended the TCP connection without a close frame"
    if window is None:
        window = await ctx.begin()
    if window.end is None:
        ctx.load_ended(window)
    await conn.abort()
    await ctx.settle()
    memory = ctx.memory(window)
    assert window.end is not None
    latency = await ctx.latency(window.start, window.end)
    return judge(obs, memory, latency, ctx)


@dataclass(frozen=True)
class _Bound:
    """One declared bound of RWS-LANE-11 and what the flood amounted to in its unit."""

    name: str  # the server parameter: max-queued-requests, max-queued-bytes
    declared: int | None
    source: str
    sent: int  # what the queued requests came to
    taken: int  # of that, what the server did not refuse
    step: int  # what one more request adds

    @property
    def full(self) -> bool:
        """One more request would have gone beyond the bound: it explains a refusal."""
        return self.declared is not None and self.taken + self.step > self.declared

    @property
    def reached(self) -> bool:
        """The flood went beyond the bound and the server refused what did (so the queue,
        and what it costs, is bounded)."""
        return self.declared is not None and self.sent > self.declared >= self.taken

    def rule(self, label: str) -> Rule | None:
        """No more taken than declared; None when nothing is declared."""
        if self.declared is None:
            return None
        ok = self.taken <= self.declared
        return Rule(
            f"{label} {self.taken:,} {'<=' if ok else '>'} {self.name} {self.declared:,} "
            f"({self.source})",
            not ok,
        )


def _bounds(obs: QueueObservation, ctx: ProbeContext) -> tuple[_Bound, _Bound]:
    """The count and the byte bound (RWS-LANE-11), with the requests not refused: those
    without an outcome were not refused, so they count as accepted."""
    taken = obs.requests - obs.refused - obs.other_errors
    count, count_source = ctx.target.limit("max-queued-requests")
    size, size_source = ctx.target.limit("max-queued-bytes")
    return (
        _Bound("max-queued-requests", count, count_source, obs.requests, taken, 1),
        _Bound(
            "max-queued-bytes",
            size,
            size_source,
            obs.requests * obs.request_bytes,
            taken * obs.request_bytes,
            obs.request_bytes,
        ),
    )


def _growth_rule(memory: MemoryStats, limit: float, bounds: tuple[_Bound, ...]) -> Rule | None:
    """Growth within ``limit``, or (issue 18: "or refused per the declared limit") a queue
    the server bounds at one of its declared bounds: then what the bound lets wait costs what
    it costs, and the growth is a figure, not a finding."""
    rule = at_most(
        "server RSS growth while the queue was held",
        memory.growth,
        limit,
        "MiB",
        "limits.growth-mib",
    )
    reached = [f"{b.name} {b.declared}" for b in bounds if b.reached]
    if rule is None or not rule.broken or not reached:
        return rule
    return Rule(
        f"{rule.text}, but the server refused every request beyond its declared "
        f"{' and '.join(reached)}: the queue, and so this growth, is bounded",
        False,
    )


def judge(
    obs: QueueObservation,
    memory: MemoryStats | None,
    latency: LatencyStats | None,
    ctx: ProbeContext,
) -> ProbeReport:
    """The report of an observation (pure)."""
    p = ctx.params
    count, size = _bounds(obs, ctx)
    figures = [
        Figure("requests_sent", "queued requests sent", obs.requests),
        Figure("request_mb", "size of each", obs.request_bytes / 1e6, "MB"),
        Figure("send_seconds", "time to send them", obs.send_seconds, "s"),
        Figure("accepted", "accepted (response.created)", obs.accepted),
        Figure("refused", "refused with rate_limit_exceeded", obs.refused),
        Figure("other_errors", "answered with another error", obs.other_errors),
        Figure("unresolved", "no outcome by the end", obs.unresolved),
        Figure(
            "held_seconds",
            "queue held (first request to the long run's end)",
            obs.held_seconds,
            "s",
        ),
        Figure("max_queued_requests", f"max-queued-requests ({count.source})", count.declared),
        Figure("accepted_bytes", "bytes of the requests not refused", size.taken, "B"),
        Figure("max_queued_bytes", f"max-queued-bytes ({size.source})", size.declared, "B"),
    ]
    rules: list[Rule | None] = []
    taken = count.taken
    if memory is not None:
        figures += memory.figures()
        if memory.growth is not None and taken > 0:
            figures.append(
                Figure(
                    "growth_per_request_mib",
                    "server RSS growth per request not refused",
                    memory.growth / taken,
                    "MiB",
                )
            )
        rules.append(_growth_rule(memory, p.growth_limit_mib, (count, size)))
        rules.append(retained_rule(memory, p.retained_limit_mib))
    rules.append(count.rule("requests not refused"))
    rules.append(size.rule("bytes of the requests not refused"))
    if latency is not None:
        figures += latency.figures()
    rules.append(latency_rule(latency, p.latency_limit_s, "while the queue is held"))
    notes = ctx.notes(memory, latency)
    if obs.refused and count.declared is None and size.declared is None:
        notes.append(
            f"the server refused {obs.refused} requests with rate_limit_exceeded without "
            "declaring max-queued-requests or max-queued-bytes (declare them with "
            "--server-param or advertise them)"
        )
    elif obs.refused and not (count.full or size.full):
        # RWS-LANE-11 permits the refusal; its declared bounds do not explain it.
        notes.append(
            f"the server refused {obs.refused} requests with rate_limit_exceeded before "
            "the requests not refused reached a declared max-queued-requests or "
            "max-queued-bytes"
        )
    if not obs.long_run_started:
        notes.append(
            "the long run's response.created did not come: the lane may not have been busy"
        )
    if obs.long_run_ended_before_flood:
        notes.append("the long run ended before every queued request was sent")
    others = ", ".join(
        f"{n} {code}" for code, n in obs.tally.errors.most_common() if code != "rate_limit_exceeded"
    )
    came_back = (
        f"{obs.accepted} accepted, {obs.refused} refused with rate_limit_exceeded, "
        f"{obs.other_errors} other errors{f' ({others})' if others else ''}, {obs.unresolved} "
        f"without an outcome; the long run "
        + ("ended" if obs.long_run_ended else "had not ended")
        + (f"; {obs.ended}" if obs.ended else "")
    )
    return ProbeReport(
        probe="queue-flood",
        title="many large requests queued behind a long run on one lane",
        sent=(
            f"one long run (about {p.queue_hold_s:g} s) on the default lane, then "
            f"{obs.requests} response.create of {obs.request_bytes / 1e6:,.2f} MB each "
            "(store false) on the same lane; everything the server sent was read at once"
        ),
        came_back=came_back,
        measured=(
            "outcomes counted from the events (response.created after the long run's: "
            "accepted; error events: refused, by code); growth is the peak over the RSS "
            "just before the first queued request"
        ),
        instruments=ctx.instruments(),
        figures=tuple(figures),
        rules=tuple(r for r in rules if r is not None),
        notes=tuple(notes),
        params=p.subset("queue-flood.", "limits."),
    )
