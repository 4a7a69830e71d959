"""Scenarios of busy lanes: queue or refusal, request order, the default lane's count.

They run with any model. A lane is busy only while its run is in flight, and a real model
cannot be told how long to run: the first run asks for a long answer (``rws:delay`` for
``conformance-1``), the next request follows at once, and the transcript's timestamps say
whether the first run was still in flight when that request reached the server
(:func:`~conformance.scenarios._inflight.in_flight_when`). If it was not, the check asks
again on a new connection; after the last attempt the busy-lane part is reported "not
reached", never FAILED because a model was fast. What a server gets wrong whatever the
timing (two runs of one lane overlapping, an error ahead of the run it is queued behind) is
FAILED on any attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.harness.config import SuiteConfig
from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import TERMINAL_TYPES, Outcome
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection
from conformance.scenarios._common import (
    describe,
    expect_error,
    expect_run_status,
    expect_served,
    not_reached,
    turn,
)
from conformance.scenarios._inflight import (
    ATTEMPTS,
    Span,
    in_flight_when,
    long_turn,
    sent_at,
    span_of,
)
from conformance.scenarios.lanes import _first_overlap, _positions

__all__: list[str] = []

_SLOW = "rws:delay ms=60\nrws:text length=12 chunks=3"
_SHORT = "rws:text length=8"
_ASK_SHORT = "Say hello in three words."


def _busy_policy(config: SuiteConfig) -> str:
    return config.parameter("busy-lane") or "queue"


def _lane_name(lane: str | None) -> str:
    return "the default lane" if lane is None else f"stream_id {lane!r}"


@dataclass(frozen=True)
class _Attempt:
    """Requests sent back to back on one lane of a new connection, and when."""

    conn: Connection
    lane: str | None
    indexes: tuple[int, ...]  # the outcome indexes of the requests on the lane
    sent: tuple[float, ...]  # when each was sent (transcript time)

    def span(self, first: Outcome) -> Span:
        """When the first run was requested, started and ended."""
        return span_of(self.conn, first.response_id, self.sent[0])

    def reading(self, first: Outcome) -> str:
        """What the timestamps say about the first run, for the report."""
        span = self.span(first)
        if span.ended is None or span.latency is None:
            return f"the first request got {describe(first)}"
        return (
            f"the first run's terminal event came {1000 * (span.ended - self.sent[1]):.0f} ms "
            f"after the second request was sent; its response.created took "
            f"{1000 * span.latency:.0f} ms (at least one round trip)"
        )


async def _send_requests(
    ctx: ScenarioContext, lane: str | None, attempt: int, *, invalid_third: bool
) -> _Attempt:
    """Open a connection; send a long run, a short one and maybe an invalid request on it."""
    conn = await ctx.connect()
    fields: dict[str, object] = {"store": False}
    if lane is not None:
        fields["stream_id"] = lane
    requests = [long_turn(ctx, _SLOW, attempt, **fields), turn(ctx, _SHORT, _ASK_SHORT, **fields)]
    if invalid_third:
        # RWS-LANE-9: an invalid request queued behind the runs (input must be text or items).
        requests.append(ctx.create(12345, **({} if lane is None else {"stream_id": lane})))
    indexes: list[int] = []
    sent: list[float] = []
    for request in requests:
        indexes.append(await ctx.send_create(conn, request))
        sent.append(sent_at(ctx, conn))
    return _Attempt(conn, lane, tuple(indexes), tuple(sent))


async def _outcomes(ctx: ScenarioContext, attempt: _Attempt) -> list[Outcome]:
    """Wait for the attempt's outcomes; RWS-LANE-1 is judged even when they cannot be found.

    Two runs of one lane that overlap interleave their events, so the outcomes of the lane
    may never be told apart (the wait then fails on its own requirement).
    """
    where = _lane_name(attempt.lane)
    found: list[Outcome] = []
    try:
        for number, index in enumerate(attempt.indexes, start=1):
            found.append(
                await ctx.outcome(
                    attempt.conn, index, attempt.lane, what=f"request {number} on {where}"
                )
            )
    finally:
        overlap = _first_overlap(attempt.conn, attempt.lane)
        if overlap is not None:
            ctx.expect(
                "RWS-LANE-1",
                False,
                f"requests sent back to back on {where} (a long run, then a short one): "
                f"{overlap}; runs on one lane must not overlap",
            )
    return found


async def _busy_lane(ctx: ScenarioContext, lane: str | None, *, invalid_third: bool) -> None:
    """Send back-to-back requests on ``lane`` until the first run was busy; judge the lane."""
    policy = _busy_policy(ctx.config)
    ctx.note("busy_lane_policy", policy)
    readings: list[str] = []
    for number in range(ATTEMPTS):
        attempt = await _send_requests(ctx, lane, number, invalid_third=invalid_third)
        found = await _outcomes(ctx, attempt)
        first, second = found[0], found[1]
        readings.append(attempt.reading(first))
        refused = second.kind == "error" and second.code == "response_already_in_flight"
        # A refusal shows the lane was busy; else the timestamps must show it.
        if refused or in_flight_when(attempt.span(first), attempt.sent[1], ctx.config.quiet_period):
            ctx.note("busy_lane_attempts", readings)
            _judge(ctx, attempt, found, policy)
            return
        if ctx.config.scripted:
            break  # conformance-1's delays make its run last; another try would not help
    ctx.note("busy_lane_attempts", readings)
    why = (
        f"in {len(readings)} attempts the first run (asked for a long answer) had ended before "
        f"the next request on {_lane_name(lane)} reached the server ({readings[-1]}), so the "
        "lane was never busy"
    )
    for requirement in ("RWS-LANE-1", "RWS-LANE-2", "RWS-LANE-9")[: 3 if invalid_third else 2]:
        not_reached(ctx, requirement, why)


def _judge(ctx: ScenarioContext, attempt: _Attempt, found: list[Outcome], policy: str) -> None:
    """The first run was busy when the second request arrived: judge the lane's answers."""
    first, second = found[0], found[1]
    conn = attempt.conn
    sent = (
        f"a long run and then a short request sent back to back on "
        f"{_lane_name(attempt.lane)}, busy-lane={policy} ({attempt.reading(first)})"
    )
    if policy == "reject":
        # RWS-LANE-9: outcomes in request order - the first request's run starts before the
        # refusals of the requests that arrived while it was busy.
        created_at = next((m.index for m in conn.messages if m.type == "response.created"), None)
        refused_at = next((m.index for m in conn.messages if m.type == "error"), None)
        if len(found) > 2:
            ctx.expect(
                "RWS-LANE-9",
                created_at is not None and (refused_at is None or created_at < refused_at),
                f"{sent}: a refusal (message {refused_at}) came before the first request's "
                f"response.created (message {created_at})",
            )
        expect_error(ctx, second, "response_already_in_flight", "RWS-LANE-2", what=sent)
        expect_served(ctx, first, "RWS-LANE-1", what=f"{sent}: the first run")
        return
    expect_served(ctx, first, "RWS-LANE-2", what=f"{sent}: the first run")
    expect_served(ctx, second, "RWS-LANE-2", what=f"{sent}: the queued second request")
    # RWS-LANE-1: no event of the second run before the first run's terminal event (an
    # overlap was reported as the outcomes were read).
    overlap = _first_overlap(conn, attempt.lane)
    ctx.expect("RWS-LANE-1", overlap is None, f"{sent}: {overlap}")
    if len(found) < 3:
        return
    # RWS-LANE-9: the error of the queued invalid request comes after the runs before it.
    third = found[2]
    error_at = next(
        (m.index for m in conn.messages if m.event is not None and m.type == "error"), None
    )
    ends = [i for i, kind, _ in _positions(conn, attempt.lane) if kind in TERMINAL_TYPES]
    last_end = max(ends, default=None)
    ctx.expect(
        "RWS-LANE-9",
        third.kind == "error"
        and error_at is not None
        and last_end is not None
        and error_at > last_end,
        f"{sent}, then an invalid request (input 12345): it was answered ({describe(third)}) "
        f"at message {error_at}, before the runs queued ahead of it ended (message {last_end})",
    )


# RWS-LANE-1, RWS-LANE-2, RWS-LANE-9: requests on a busy default lane.
@scenario(
    "lanes.busy-default-lane",
    "a second request on a busy lane is queued (or rejected) per the declared busy-lane policy",
    requirements=("RWS-LANE-1", "RWS-LANE-2", "RWS-LANE-9"),
    # Under busy-lane=reject a second request on a busy lane is the point of the check.
    deliberate=("RWS-CLIENT-3",),
    drives="three back-to-back requests on the default lane: a long run (conformance-1: a "
    "slow one), a short run, an invalid request; again on a new connection (up to 3 times) "
    "while the first run had ended before the second request arrived",
    needs_model=False,
)
async def busy_lane(ctx: ScenarioContext) -> None:
    await _busy_lane(ctx, None, invalid_third=True)


# RWS-LANE-1, RWS-LANE-2 on a named lane: the runs of every lane follow one another, not
# only those of the default lane.
@scenario(
    "lanes.busy-named-lane",
    "a second request on a busy named lane is queued (or rejected) and never overlaps the first",
    requirements=("RWS-LANE-1", "RWS-LANE-2"),
    profile="multiplex",
    # Under busy-lane=reject a second request on a busy lane is the point of the check.
    deliberate=("RWS-CLIENT-3",),
    drives="two back-to-back requests on stream_id 'a': a long run (conformance-1: a slow "
    "one), then a short one; again on a new connection (up to 3 times) while the first run "
    "had ended before the second request arrived",
    needs_model=False,
)
async def busy_named_lane(ctx: ScenarioContext) -> None:
    await _busy_lane(ctx, "a", invalid_third=False)


# A run on the default lane that lasts while the named lanes are filled (about 0.9 s).
_DEFAULT_BUSY = "rws:delay ms=60\nrws:text length=40 chunks=8"


# RWS-LANE-5: the default lane does not count toward max-named-lanes (spec/lanes.md, 8.2).
@scenario(
    "lanes.named-lane-limit-default-busy",
    "with a run in flight on the default lane, the declared number of named lanes is accepted",
    requirements=("RWS-LANE-5",),
    profile="multiplex",
    drives="a long run on the default lane (conformance-1: a slow one), then at once "
    "generate:false requests on max-named-lanes distinct named lanes; again on a new "
    "connection (up to 3 times) while the default run had ended before the last of them",
    needs_model=False,
)
async def lane_limit_default_busy(ctx: ScenarioContext) -> None:
    limit = ctx.config.int_parameter("max-named-lanes") or 32
    readings: list[str] = []
    for number in range(ATTEMPTS):
        conn = await ctx.connect()
        default_index = await ctx.send_create(
            conn, long_turn(ctx, _DEFAULT_BUSY, number, store=False), note="long"
        )
        default_sent = sent_at(ctx, conn)
        indexes = [
            await ctx.send_create(
                conn, ctx.create("hi", generate=False, store=False, stream_id=f"lane-{n}")
            )
            for n in range(limit)
        ]
        last_sent = sent_at(ctx, conn)
        for n, index in enumerate(indexes):
            lane = f"lane-{n}"
            run = await ctx.outcome(conn, index, lane, what=f"named lane {n + 1} of {limit}")
            if not expect_run_status(
                ctx,
                run,
                "completed",
                "RWS-LANE-5",
                what=f"stream_id {lane!r}, named lane {n + 1} of the declared max-named-lanes "
                f"{limit}, sent right after a long run on the default lane (which does not "
                "count toward the limit)",
            ):
                return
        default = await ctx.outcome(conn, default_index, what="the run on the default lane")
        expect_served(ctx, default, "RWS-LANE-5", what="the long run on the default lane")
        span = span_of(conn, default.response_id, default_sent)
        busy = in_flight_when(span, last_sent, ctx.config.quiet_period)
        ended = "never" if span.ended is None else f"{1000 * (span.ended - last_sent):.0f} ms"
        readings.append(
            f"the default lane's run ended {ended} after the last named request was sent "
            f"(its response.created took {1000 * (span.latency or 0):.0f} ms)"
        )
        if busy or ctx.config.scripted:
            break
    # Whether the default lane was busy when the last named lane was accepted (else the check
    # showed only that a default lane already used does not count).
    ctx.note("default_lane_busy_throughout", busy)
    ctx.note("default_lane_attempts", readings)
