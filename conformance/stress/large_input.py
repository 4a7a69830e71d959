"""Probe ``large-input``: big and compressed messages, while another client is timed.

Three phases, each on fresh connections opened before its window, each followed by the
settle time so that the next starts on a quiet server:

* ``plain``: one connection sends a request whose ``input`` is an array of about
  ``large-input.input-mb`` (numbered user messages of 1,000 characters; capped 4 kB below
  the declared ``max-message-size``, so the server must accept it, RWS-TRANS-7);
* ``compressed``: ``large-input.compressed-connections`` connections with permessage-deflate
  send the same request compressed (about 100 kB on the wire for 15 MB) at the same moment;
* ``bomb``: ``large-input.bomb-connections`` connections each send one compressed message
  that would inflate to ``large-input.bomb-factor`` times the declared ``max-message-size``
  (a valid request with a huge ``input`` string, about 200 kB on the wire for 64 MiB). A server
  should stop inflating at its limit and close with 1009.

Each connection reads concurrently with its own send, until the request's outcome (the
terminal event, an error, or a close), at most ``large-input.timeout-seconds``. Figures
per phase: what each connection got and how long after the start of its send; the
server's peak RSS; the latency monitor's waits. Rules: the monitor within
``limits.latency-s`` in every phase; a message at most ``max-message-size`` is not refused
with 1009 (RWS-TRANS-7); what the server still holds after each phase within
``limits.retained-mib`` of where the phase started. A bomb that the server inflates and
answers is noted, not judged: a server may refuse a message above its limit (RWS-TRANS-16),
it need not.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from conformance.stress.context import ProbeContext
from conformance.stress.figures import (
    Figure,
    LatencyStats,
    MemoryStats,
    ProbeReport,
    Rule,
    latency_rule,
    retained_rule,
)
from conformance.stress.messages import TERMINAL_EVENTS, bomb_parts, large_input_request
from conformance.stress.wire import (
    ConnectFailed,
    RawConnection,
    Received,
    deflate_message,
    deflate_repeated,
)

__all__ = ["PhaseObservation", "SenderResult", "budget", "judge", "run"]

_DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024
_MARGIN = 4096


@dataclass
class SenderResult:
    """One connection's message and what it got."""

    wire_bytes: int  # the message's payload on the wire (compressed when deflated)
    message_bytes: int  # the message's size once inflated
    send_seconds: float | None = None
    first: str | None = None  # the first answer: "response.created", "error <code>", "close <code>"
    first_was_event: bool = False  # the first answer was an event: the server read the message
    first_after: float | None = None  # seconds from the start of the send
    outcome: str | None = None  # the terminal event, error or close that ended the request
    outcome_after: float | None = None
    closed_code: int | None = None  # the server's close code, when it closed

    @property
    def read_by_server(self) -> bool:
        """Whether the server answered the message with an event (so it read all of it)."""
        return self.first_was_event

    def describe(self) -> str:
        """One line."""
        if self.first is None:
            return "no answer"
        text = f"{self.first} after {self.first_after:.3f} s"
        if self.outcome and self.outcome != self.first:
            text += f", {self.outcome} after {self.outcome_after:.3f} s"
        return text


@dataclass
class PhaseObservation:
    """One phase: its connections, and the server meanwhile."""

    name: str  # "plain", "compressed", "bomb"
    label: str  # "1 connection sends a 15.0 MB input array"
    senders: list[SenderResult] = field(default_factory=list)
    skipped: str | None = None  # why the phase did not run
    load_seconds: float = 0.0  # from the first send to the last outcome
    memory: MemoryStats | None = None
    latency: LatencyStats | None = None


def budget(ctx: ProbeContext) -> float:
    """Upper bound of the probe's duration."""
    p = ctx.params
    per_phase = p.input_timeout_s + p.settle_s + 2 * p.monitor_timeout_s + 25
    return p.baseline_s + 3 * per_phase + 30


async def _exchange(
    conn: RawConnection,
    send: Callable[[], Awaitable[None]],
    result: SenderResult,
    bound: float,
    sent: Callable[[], Awaitable[None]],
) -> None:
    """Send one message while reading; record the first answer and the outcome. ``sent``
    runs once the message is out (the server is then busy with it)."""
    t0 = time.monotonic()
    done = trio.Event()

    def note(message: Received) -> None:
        described = message.describe()
        if result.first is None:
            result.first, result.first_after = described, message.at - t0
            result.first_was_event = message.kind != "close"
        ends = (
            message.kind == "close"
            or message.event_type in TERMINAL_EVENTS
            or (message.event_type == "error" and not message.in_run)
        )
        if ends and result.outcome is None:
            result.outcome, result.outcome_after = described, message.at - t0
            result.closed_code = message.close_code
            done.set()

    async def read() -> None:
        while not conn.eof and not done.is_set():
            for message in await conn.receive(1 << 20):
                note(message)
        if result.outcome is None:
            ended = conn.broken or "connection ended without a close frame"
            after = time.monotonic() - t0
            if result.first is None:
                result.first, result.first_after = ended, after
            result.outcome, result.outcome_after = ended, after
        done.set()

    async def write() -> None:
        # A failed send is not the outcome: the reader finds how the server ended it.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await send()
        result.send_seconds = time.monotonic() - t0
        await sent()

    with trio.move_on_after(bound):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            nursery.start_soon(write)
            await done.wait()
            nursery.cancel_scope.cancel()


async def _phase(
    ctx: ProbeContext,
    phase: PhaseObservation,
    connections: list[RawConnection],
    sends: list[tuple[Callable[[], Awaitable[None]], SenderResult]],
) -> None:
    window = await ctx.begin()
    try:
        async with trio.open_nursery() as nursery:
            for conn, (send, result) in zip(connections, sends, strict=True):
                phase.senders.append(result)
                nursery.start_soon(
                    _exchange, conn, send, result, ctx.params.input_timeout_s, ctx.poke
                )
    finally:
        ctx.load_ended(window)
        assert window.end is not None
        phase.load_seconds = window.end - window.start
        with trio.CancelScope(shield=True):
            for conn in connections:
                await conn.close(timeout=2.0)
    await ctx.settle()
    phase.memory = ctx.memory(window)
    assert window.end is not None
    phase.latency = await ctx.latency(window.start, window.end)


async def _open_all(ctx: ProbeContext, count: int, compression: bool) -> list[RawConnection]:
    opened: list[RawConnection] = []
    try:
        for _ in range(count):
            opened.append(await ctx.open(compression=compression))
    except ConnectFailed:
        for conn in opened:
            await conn.abort()
        raise
    return opened


async def _open_deflate(ctx: ProbeContext, count: int) -> tuple[list[RawConnection], str | None]:
    """``count`` connections offering permessage-deflate, or none and why a phase that needs
    it cannot run (the server declined the extension, or refused such an upgrade: RWS-TRANS-8
    is a conformance check's business, not a stress figure)."""
    try:
        conns = await _open_all(ctx, count, compression=True)
    except ConnectFailed as exc:
        if exc.status is None:
            raise  # no HTTP answer at all: the server stopped accepting connections
        return [], f"the server refused an upgrade offering permessage-deflate ({exc})"
    if any(c.deflate() is None for c in conns):
        for conn in conns:
            await conn.abort()
        return [], "the server did not agree to permessage-deflate"
    return conns, None


def _window_bits(conn: RawConnection) -> int:
    deflate = conn.deflate()
    assert deflate is not None
    return deflate.local_max_window_bits


async def run(ctx: ProbeContext) -> ProbeReport:
    """Run the probe (module docstring)."""
    p = ctx.params
    model = ctx.target.model
    max_size, _source = ctx.target.limit("max-message-size")
    limit = max_size or _DEFAULT_MAX_MESSAGE
    size = max(1024, min(int(p.input_mb * 1e6), limit - _MARGIN))
    payload = large_input_request(model, size)
    phases: list[PhaseObservation] = []
    await ctx.baseline()

    plain = PhaseObservation("plain", f"1 connection sends a {len(payload) / 1e6:,.1f} MB input")
    phases.append(plain)
    conns = await _open_all(ctx, 1, compression=False)
    await _phase(
        ctx,
        plain,
        conns,
        [(lambda: conns[0].send_message(payload), SenderResult(len(payload), len(payload)))],
    )

    k = p.compressed_connections
    compressed = PhaseObservation(
        "compressed",
        f"{k} connections send the same input compressed, at once",
    )
    phases.append(compressed)
    conns_c, compressed.skipped = await _open_deflate(ctx, k)
    if not compressed.skipped:
        cache: dict[int, bytes] = {}
        sends_c = []
        for conn in conns_c:
            bits = _window_bits(conn)
            if bits not in cache:
                cache[bits] = deflate_message(bytes(payload), bits)
            data = cache[bits]
            sends_c.append((_sender(conn, data), SenderResult(len(data), len(payload))))
        await _phase(ctx, compressed, conns_c, sends_c)

    inflated = int(p.bomb_factor * limit)
    kb = p.bomb_connections
    bomb = PhaseObservation(
        "bomb",
        f"{kb} connections send a compressed message inflating to {inflated / 1e6:,.1f} MB, "
        "at once",
    )
    phases.append(bomb)
    conns_b, bomb.skipped = await _open_deflate(ctx, kb)
    if not bomb.skipped:
        head, unit, tail, total = bomb_parts(model, inflated)
        bombs: dict[int, bytes] = {}
        sends_b = []
        for conn in conns_b:
            bits = _window_bits(conn)
            if bits not in bombs:
                bombs[bits] = deflate_repeated(head, unit, total, tail, bits)
            sends_b.append((_sender(conn, bombs[bits]), SenderResult(len(bombs[bits]), total)))
        await _phase(ctx, bomb, conns_b, sends_b)
    return judge(phases, ctx, size)


def _sender(conn: RawConnection, data: bytes) -> Callable[[], Awaitable[None]]:
    return lambda: conn.send_deflated(data)


def judge(phases: list[PhaseObservation], ctx: ProbeContext, input_size: int) -> ProbeReport:
    """The report of the phases (pure)."""
    p = ctx.params
    max_size, source = ctx.target.limit("max-message-size")
    limit = max_size or _DEFAULT_MAX_MESSAGE
    figures: list[Figure] = [
        Figure("max_message_size", f"max-message-size ({source})", limit, "bytes"),
        Figure("input_mb", "large input", input_size / 1e6, "MB"),
    ]
    rules: list[Rule | None] = []
    came_back: list[str] = []
    notes: list[str] = []
    for phase in phases:
        prefix = f"{phase.name}_"
        if phase.skipped:
            came_back.append(f"{phase.name}: not run, {phase.skipped}")
            notes.append(f"phase {phase.name} not run: {phase.skipped}")
            continue
        answers = "; ".join(
            f"connection {i + 1}: {s.describe()}" for i, s in enumerate(phase.senders)
        )
        came_back.append(f"{phase.name} ({phase.label}): {answers}")
        wire = sum(s.wire_bytes for s in phase.senders)
        figures.append(
            Figure(f"{prefix}wire_kb", f"bytes on the wire ({phase.name})", wire / 1e3, "kB")
        )
        firsts = [s.first_after for s in phase.senders if s.first_after is not None]
        figures.append(
            Figure(
                f"{prefix}first_answer_max_s",
                f"longest time to the first answer ({phase.name})",
                max(firsts) if firsts else None,
                "s",
            )
        )
        if phase.memory is not None:
            figures += [
                f
                for f in phase.memory.figures(prefix, phase.name)
                if f.key.endswith(("before_mib", "peak_mib", "growth_mib", "after_mib", "cpu_s"))
            ]
            rules.append(retained_rule(phase.memory, p.retained_limit_mib, phase.name))
        if phase.latency is not None:
            figures += phase.latency.figures(prefix, phase.name)
        elif ctx.monitor is not None:
            notes.append(
                f"phase {phase.name}: no monitor request was in flight during its "
                f"{phase.load_seconds:.3f} s load (the monitor is asked for one at the start "
                "of the load and once each message is sent)"
            )
        rules.append(latency_rule(phase.latency, p.latency_limit_s, f"while {phase.label}"))
        if phase.name == "bomb":
            read = [s for s in phase.senders if s.read_by_server]
            if read:
                # RWS-TRANS-16 lets a server refuse such a message with 1009; it need not:
                # what reading it cost is in the phase's memory and latency figures.
                notes.append(
                    f"{len(read)} of {len(phase.senders)} messages inflating to "
                    f"{read[0].message_bytes:,} bytes, above max-message-size {limit:,} "
                    f"({source}), were inflated and answered with an event: permitted "
                    "(RWS-TRANS-16: a server may close with 1009 instead, before inflating "
                    "further), the cost is in the bomb figures"
                )
            else:
                codes = sorted({str(s.closed_code) for s in phase.senders})
                rules.append(
                    Rule(
                        f"no message above max-message-size {limit:,} ({source}) was read "
                        f"(closed with {', '.join(codes)})",
                        False,
                    )
                )
        else:
            refused = [s for s in phase.senders if s.closed_code == 1009]
            if refused:
                rules.append(
                    Rule(
                        f"{len(refused)} of {len(phase.senders)} messages of "
                        f"{refused[0].message_bytes:,} bytes, within max-message-size "
                        f"{limit:,} ({source}), were refused with 1009 (RWS-TRANS-7)",
                        True,
                    )
                )
    memories = [ph.memory for ph in phases if ph.memory is not None]
    latencies = [ph.latency for ph in phases if ph.latency is not None]
    notes += ctx.notes(memories[0] if memories else None, latencies[0] if latencies else None)
    return ProbeReport(
        probe="large-input",
        title="large and compressed messages while another connection is timed",
        sent=(
            f"plain: one request with an input array of {input_size / 1e6:,.1f} MB (store "
            f"false); compressed: the same request permessage-deflate compressed on "
            f"{p.compressed_connections} connections at once; bomb: on "
            f"{p.bomb_connections} connections at once, a compressed request whose input "
            f"string inflates it to {p.bomb_factor:g} x max-message-size"
        ),
        came_back="; ".join(came_back),
        measured=(
            "each connection reads while it sends; times run from the start of its send to "
            "the arrival of the answer"
        ),
        instruments=ctx.instruments(),
        figures=tuple(figures),
        rules=tuple(r for r in rules if r is not None),
        notes=tuple(notes),
        params=p.subset("large-input.", "limits.latency", "limits.retained"),
    )
