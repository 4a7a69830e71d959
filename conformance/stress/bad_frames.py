"""Probe ``bad-frame-flood``: a client that sends malformed messages as fast as it can.

One connection sends ``bad-frame-flood.messages`` text messages that cannot be client events
(invalid JSON, JSON that is not an object, an unknown ``type``, no ``type``, an empty text:
:data:`~conformance.stress.messages.MALFORMED`), for at most ``bad-frame-flood.seconds``,
while it reads everything the server sends. Each must be answered with an error event and
the connection stays open (RWS-CREATE-9, spec/client-events.md section 3.3), unless the
server closes a persistently abusive client with 1008. After the last message the probe
waits up to ``bad-frame-flood.answer-seconds`` for the answers, then (if the connection is
still open) sends one small valid request and times its ``response.created``: is the
flooded connection still served? Rules: every message answered, or the connection closed
with 1008; the valid request's ``response.created`` within ``limits.latency-s``; the latency
monitor within ``limits.latency-s``.
"""

from __future__ import annotations

import time
from collections import Counter
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
from conformance.stress.messages import MALFORMED, small_request
from conformance.stress.tally import Tally
from conformance.stress.wire import RawConnection

__all__ = ["FloodObservation", "budget", "judge", "run"]


@dataclass
class FloodObservation:
    """What the flooding connection sent and got."""

    sent: int = 0
    send_seconds: float = 0.0
    answered_all_after: float | None = None  # seconds from the first message
    tally: Tally = field(default_factory=Tally)
    sent_before_close: int | None = None  # messages sent when the server's close arrived
    ended: str | None = None  # how the server ended the connection, if it did
    valid_created_after: float | None = None  # the valid request after the flood
    valid_outcome: str | None = None  # what the valid request got, when not response.created
    # Event types received before the valid request was sent (its own run's are expected).
    flood_types: Counter[str] | None = None

    @property
    def answered(self) -> int:
        """Error events received (every code)."""
        return self.tally.error_count

    @property
    def closed_code(self) -> int | None:
        """The server's close code."""
        return self.tally.close.close_code if self.tally.close is not None else None


def budget(ctx: ProbeContext) -> float:
    """Upper bound of the probe's duration."""
    p = ctx.params
    return (
        p.baseline_s
        + p.flood_seconds
        + p.flood_answer_s
        + p.monitor_timeout_s
        + p.settle_s
        + 2 * p.monitor_timeout_s
        + 30
    )


async def _read(conn: RawConnection, obs: FloodObservation, changed: list[trio.Event]) -> None:
    while not conn.eof:
        messages = await conn.receive(1 << 20)
        for message in messages:
            obs.tally.add(message)
            if message.kind == "close" and obs.sent_before_close is None:
                obs.sent_before_close = obs.sent
        if messages:
            changed[0].set()
            changed[0] = trio.Event()
    changed[0].set()


async def _flood(conn: RawConnection, obs: FloodObservation, count: int) -> None:
    for index in range(count):
        if conn.eof or conn.close_frame is not None:
            return
        await conn.send_message(MALFORMED[index % len(MALFORMED)])
        obs.sent += 1
        if index % 64 == 63:
            # Let the reader run: on one trio task per direction, a tight send loop over a
            # fast socket would otherwise read the answers only once the flood is over.
            await trio.lowlevel.checkpoint()


async def run(ctx: ProbeContext) -> ProbeReport:
    """Run the probe (module docstring)."""
    p = ctx.params
    await ctx.baseline()
    conn = await ctx.open()
    obs = FloodObservation()
    changed = [trio.Event()]
    window = await ctx.begin()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_read, conn, obs, changed)
        try:
            with trio.move_on_after(p.flood_seconds):
                await _flood(conn, obs, p.flood_messages)
            obs.send_seconds = time.monotonic() - window.start
            with trio.move_on_after(p.flood_answer_s):
                while obs.answered < obs.sent and not conn.eof:
                    await changed[0].wait()
            if obs.answered >= obs.sent and obs.tally.last_at is not None:
                obs.answered_all_after = obs.tally.last_at - window.start
            ctx.load_ended(window)
            if not conn.eof and conn.close_frame is None:
                await _valid_request(ctx, conn, obs, changed)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            obs.ended = f"sending failed: {exc}"
        nursery.cancel_scope.cancel()
    if window.end is None:
        ctx.load_ended(window)
    if conn.close_frame is not None:
        obs.ended = f"the server closed the connection with {conn.close_frame.describe()}"
    elif conn.eof and obs.ended is None:
        obs.ended = conn.broken or "the server ended the TCP connection without a close frame"
    await conn.close(timeout=2.0)
    await ctx.settle()
    memory = ctx.memory(window)
    assert window.end is not None
    latency = await ctx.latency(window.start, window.end)
    return judge(obs, memory, latency, ctx)


async def _valid_request(
    ctx: ProbeContext, conn: RawConnection, obs: FloodObservation, changed: list[trio.Event]
) -> None:
    before = obs.tally.created
    errors = obs.tally.error_count
    obs.flood_types = Counter(obs.tally.types)
    t0 = time.monotonic()
    await conn.send_message(small_request(ctx.target.model))
    with trio.move_on_after(ctx.params.monitor_timeout_s):
        while obs.tally.created == before and obs.tally.error_count == errors and not conn.eof:
            await changed[0].wait()
    if obs.tally.created > before:
        obs.valid_created_after = time.monotonic() - t0
    elif obs.tally.error_count > errors:
        obs.valid_outcome = f"an error ({obs.tally.errors.most_common(1)[0][0]})"
    elif conn.eof:
        obs.valid_outcome = "the connection ended"
    else:
        obs.valid_outcome = f"nothing within {ctx.params.monitor_timeout_s:g} s"


def judge(
    obs: FloodObservation,
    memory: MemoryStats | None,
    latency: LatencyStats | None,
    ctx: ProbeContext,
) -> ProbeReport:
    """The report of an observation (pure)."""
    p = ctx.params
    rate = obs.sent / obs.send_seconds if obs.send_seconds > 0 else None
    figures = [
        Figure("sent", "malformed messages sent", obs.sent),
        Figure("send_rate", "sending rate", rate, "messages/s"),
        Figure("answered", "error events received", obs.answered),
        Figure("answered_all_after_s", "all answered after", obs.answered_all_after, "s"),
        Figure("close_code", "server close code", obs.closed_code, grouped=False),
        Figure("sent_before_close", "messages sent when the close arrived", obs.sent_before_close),
        Figure(
            "valid_created_after_s",
            "a valid request's response.created after the flood",
            obs.valid_created_after,
            "s",
        ),
    ]
    rules: list[Rule | None] = []
    code = obs.closed_code
    if code is not None:
        # Spec 3.3: 1008 is for a client that *keeps* sending such messages; a server that
        # closes at the first one does not keep the connection open (RWS-CREATE-9).
        first = obs.answered <= 1
        counts = f"{obs.answered:,} answered, {obs.sent_before_close:,} sent by then"
        if code != 1008:
            text = (
                f"the server closed with {code} ({counts}): the close code for a client that "
                "keeps sending malformed messages is 1008"
            )
        elif first:
            text = (
                f"the server closed with 1008 at the first malformed message ({counts}): "
                "RWS-CREATE-9 keeps the connection open, 1008 is for a client that keeps "
                "sending them"
            )
        else:
            text = (
                f"the server closed with 1008 ({counts}): permitted for a client that keeps "
                "sending malformed messages"
            )
        rules.append(Rule(text, code != 1008 or first))
    elif obs.ended is not None:
        rules.append(Rule(f"the connection ended without a close frame: {obs.ended}", True))
    else:
        missing = obs.sent - obs.answered
        rules.append(
            Rule(
                f"{obs.answered:,} of {obs.sent:,} malformed messages answered with an error "
                f"event within {p.flood_answer_s:g} s of the last"
                + (f" ({missing:,} not answered)" if missing > 0 else ""),
                missing > 0,
            )
        )
        if obs.valid_created_after is not None:
            ok = obs.valid_created_after <= p.latency_limit_s
            rules.append(
                Rule(
                    f"a valid request on the flooded connection got response.created after "
                    f"{obs.valid_created_after:.3f} s {'<=' if ok else '>'} "
                    f"{p.latency_limit_s:g} s (limits.latency-s)",
                    not ok,
                )
            )
        elif obs.valid_outcome is not None:
            rules.append(
                Rule(
                    f"a valid request on the flooded connection got {obs.valid_outcome} "
                    "instead of response.created",
                    True,
                )
            )
    if memory is not None:
        figures += memory.figures()
        rules.append(retained_rule(memory, p.retained_limit_mib))
    if latency is not None:
        figures += latency.figures()
    rules.append(latency_rule(latency, p.latency_limit_s, "during the flood"))
    types = obs.flood_types if obs.flood_types is not None else obs.tally.types
    others = {t: n for t, n in types.items() if t not in ("error", "response.created")}
    notes = ctx.notes(memory, latency)
    if others:
        notes.append(
            "besides error events the flooded connection received during the flood: "
            + ", ".join(f"{n} {t}" for t, n in sorted(others.items()))
        )
    came_back = (
        f"{obs.answered:,} error events ({obs.tally.describe_errors()})"
        + (f"; {obs.ended}" if obs.ended else "; the connection stayed open")
        + (
            f"; the valid request after the flood got response.created after "
            f"{obs.valid_created_after:.3f} s"
            if obs.valid_created_after is not None
            else (
                f"; the valid request after the flood got {obs.valid_outcome}"
                if obs.valid_outcome
                else ""
            )
        )
    )
    return ProbeReport(
        probe="bad-frame-flood",
        title="a flood of malformed messages on one connection",
        sent=(
            f"{obs.sent:,} malformed text messages ({len(MALFORMED)} kinds in turn: invalid "
            "JSON, a JSON array, a JSON string, an unknown type, no type, empty) as fast as "
            "the connection took them, reading meanwhile; then one small valid request"
        ),
        came_back=came_back,
        measured=("answers are error events without a sequence_number, counted as they arrive"),
        instruments=ctx.instruments(),
        figures=tuple(figures),
        rules=tuple(r for r in rules if r is not None),
        notes=tuple(notes),
        params=p.subset("bad-frame-flood.", "limits.latency", "limits.retained"),
    )
