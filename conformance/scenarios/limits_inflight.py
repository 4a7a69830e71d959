"""Scenarios of the age and idle limits with runs in flight (RWS-LIMIT-1/2/4/12, RWS-EVENT-5).

They run with any model. Each needs runs in flight at a given moment: at the connection-age
limit, or for longer than the idle-timeout. ``conformance-1`` is told how long to run
(``rws:delay``). Another model is asked for long answers, several queued on one lane
(``busy-lane=queue``) so that the lane stays busy for their sum; the transcript's timestamps
then say which requests had started by the limit and whether runs were in flight long enough
(:mod:`._inflight`). A part the timing did not reach is reported "not reached", with what
the wire showed, never FAILED because a model was fast; what a server gets wrong whatever
the timing (a run started after the limit, a close while a run is in flight) is FAILED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trio

from conformance.harness.config import responses_url
from conformance.harness.context import PrerequisiteFailed, ScenarioContext
from conformance.harness.lanes import TERMINAL_TYPES, error_code, error_registry, lane_of
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection, ConnectionClosedError, ExpectationTimeout, Message
from conformance.scenarios._common import not_reached
from conformance.scenarios._inflight import long_turn, opened_at, sent_at
from conformance.scenarios.limits import (
    _SLOW_TEXT,
    _idle_limit,
    _run_lasting,
    _short_age,
    _short_idle,
)

__all__: list[str] = []

_LIMIT_ERROR = "websocket_connection_limit_reached"
# Requests for long answers queued on one lane before the age limit or the idle wait (another
# model, busy-lane=queue): the lane stays busy for the sum of their runs.
_QUEUED_RUNS = 4


def _response_id(message: Message) -> str | None:
    response = (message.event or {}).get("response")
    value = response.get("id") if isinstance(response, Mapping) else None
    return value if isinstance(value, str) else None


def _queues(ctx: ScenarioContext) -> bool:
    return (ctx.config.parameter("busy-lane") or "queue") == "queue"


def _lane_fields(lane: str | None) -> dict[str, Any]:
    return {"store": False} if lane is None else {"store": False, "stream_id": lane}


def _lasting_requests(
    ctx: ScenarioContext, directive: str, lane: str | None, *, queued: str | None
) -> list[dict[str, Any]]:
    """The requests that keep ``lane`` busy: ``directive`` (and ``queued`` behind it under
    busy-lane=queue) for conformance-1; long answers, queued when the lane queues, else."""
    fields = _lane_fields(lane)
    if ctx.config.scripted:
        requests = [ctx.create(directive, **fields)]
        if queued is not None and _queues(ctx):
            requests.append(ctx.create(queued, **fields))
        return requests
    count = _QUEUED_RUNS if _queues(ctx) else 1
    return [long_turn(ctx, directive, n, **fields) for n in range(count)]


@dataclass(frozen=True)
class _AgeRun:
    """What happened around the age limit on one connection."""

    conn: Connection
    lane: str | None  # the lane of the requests sent before the limit
    after_lane: str | None  # the lane of the request sent after it
    requests: int  # how many requests were sent before the limit
    first_sent: float  # transcript time of the first of them
    limit_at: float  # transcript time of the age limit (measured from the upgrade)
    after_sent: bool  # whether the request after the limit could be sent
    closed: bool
    slack: float  # the suite's quiet period: for events written late or read in a burst

    def created(self, lane: str | None) -> list[Message]:
        """The ``response.created`` messages of ``lane``."""
        return [
            m
            for m in self.conn.messages
            if m.type == "response.created" and lane_of(m.event or {}) == lane
        ]

    @property
    def margin(self) -> float:
        """One round trip at least (from the first request to its ``response.created``), and
        the slack: a ``response.created`` received later than this after the limit was sent
        after it."""
        created = self.created(self.lane)
        latency = max(0.0, created[0].ts - self.first_sent) if created else 0.0
        return latency + self.slack

    def started_by_limit(self) -> int:
        """How many of the requests sent before the limit had started by then."""
        return sum(1 for m in self.created(self.lane) if m.ts <= self.limit_at + self.margin)

    def limit_errors(self) -> list[Message]:
        """The ``websocket_connection_limit_reached`` errors received."""
        return [
            m
            for m in self.conn.messages
            if m.type == "error" and error_code(m.event or {}) == _LIMIT_ERROR
        ]

    def unfinished(self) -> list[str]:
        """The runs that started and sent no terminal event."""
        ended = {_response_id(m) for m in self.conn.messages if m.type in TERMINAL_TYPES}
        started = [_response_id(m) for m in self.conn.messages if m.type == "response.created"]
        return [str(rid) for rid in started if rid not in ended]


async def _keep_busy_until(ctx: ScenarioContext, conn: Connection, until: float) -> None:
    """With a declared idle-timeout shorter than the test age, keep the connection busy until
    ``until`` (trio time), so that the idle limit (RWS-LIMIT-4) cannot close it first."""
    idle = ctx.config.parameter("idle-timeout")
    age = ctx.config.test_connection_age or 0.0
    if idle is None or not idle.replace(".", "", 1).isdigit() or float(idle) >= age:
        return
    while trio.current_time() < until:
        await ctx.request(conn, ctx.create("keep-alive", generate=False, store=False))
        await trio.sleep(min(0.25, max(0.0, until - trio.current_time())))


async def _await_close(ctx: ScenarioContext, conn: Connection) -> bool:
    """Wait for the server to close ``conn`` while it keeps sending; return whether it did.

    Runs in flight at the limit end first (RWS-LIMIT-2), however long a model takes, so the
    wait gives up only after a whole timeout without any message.
    """
    while not conn.closed.is_set():
        count = len(conn.messages)
        with trio.move_on_after(ctx.config.timeout):
            await conn.closed.wait()
        if len(conn.messages) == count:
            break
    return conn.closed.is_set()


async def _past_the_age_limit(
    ctx: ScenarioContext, lane: str | None, after_lane: str | None
) -> _AgeRun:
    """Keep ``lane`` busy across the test age limit; send a request on ``after_lane`` after it.

    The runs start shortly before the limit: conformance-1's spans it by a wide margin (with
    a request queued behind it under busy-lane=queue); another model's long answers are
    queued, so that one is likely in flight at the limit and others still wait there.
    """
    age = ctx.config.test_connection_age
    assert age is not None
    url = ctx.config.age_limit_url
    conn = await ctx.connect(url=responses_url(url) if url else None)
    # Measured once the upgrade completed: the server's clock started earlier, so "after the
    # limit" below is after it for the server too.
    opened = trio.current_time()
    lead = min(0.5, age / 3)  # the runs start this long before the limit
    await _keep_busy_until(ctx, conn, opened + age - 2 * lead)
    await trio.sleep_until(opened + age - lead)
    if trio.current_time() > opened + age - lead / 2:
        raise PrerequisiteFailed("the suite could not start the runs before the age limit")
    # About 14 events, each delayed: conformance-1's run spans the limit by a wide margin.
    slow = f"rws:delay ms={int(lead * 1000 / 4)}\n{_SLOW_TEXT}"
    requests = _lasting_requests(ctx, slow, lane, queued="rws:text length=4")
    await conn.send_json(requests[0], note="before the age limit")
    first_sent = sent_at(ctx, conn)
    for request in requests[1:]:
        await conn.send_json(request, note="queued before the age limit")
    await trio.sleep_until(opened + age + lead / 2)
    # A client does not send after the limit error (the server then closes); the request after
    # the limit is sent only while the connection is open and the error has not come.
    after_sent = False
    warned = any(error_code(m.event or {}) == _LIMIT_ERROR for m in conn.messages)
    if not conn.closed.is_set() and not warned:
        fields = _lane_fields(after_lane)
        try:
            await conn.send_json(ctx.create("Say hello.", **fields), note="after the age limit")
            after_sent = True
        except ConnectionClosedError:
            after_sent = False
    closed = await _await_close(ctx, conn)
    return _AgeRun(
        conn=conn,
        lane=lane,
        after_lane=after_lane,
        requests=len(requests),
        first_sent=first_sent,
        limit_at=opened_at(ctx, conn) + age,
        after_sent=after_sent,
        closed=closed,
        slack=ctx.config.quiet_period,
    )


def _unstarted(run: _AgeRun) -> int:
    """Requests that never started: each is owed the limit error (RWS-LIMIT-1, -12)."""
    started = len(run.created(run.lane))
    if run.after_lane != run.lane:
        started += len(run.created(run.after_lane))
    return max(0, run.requests + int(run.after_sent) - started)


def _where(lane: str | None) -> str:
    return "the default lane" if lane is None else f"stream_id {lane!r}"


def _sent_words(run: _AgeRun, age: float) -> str:
    before = (
        f"{run.requests} request(s) for long runs on {_where(run.lane)} sent shortly before "
        f"the age limit of {age:g} s"
    )
    if run.after_sent:
        return f"{before} and one more on {_where(run.after_lane)} just after it"
    return (
        f"{before} (the connection was closed, or the limit error had come, before a request "
        "could be sent after the limit)"
    )


# RWS-LIMIT-12: with busy-lane=queue, a request queued behind the run in flight never starts.
# RWS-LIMIT-1, RWS-LIMIT-2, RWS-ERR-6: at the age limit: no new runs, running ones finish,
# websocket_connection_limit_reached, close 1001. RWS-LIMIT-11 (SHOULD, judged by the checker):
# the limit error answering the request sent after the limit waits for the runs in flight.
@scenario(
    "limits.connection-age",
    "at the connection-age limit new requests are refused, running runs end, close 1001",
    requirements=("RWS-LIMIT-1", "RWS-LIMIT-2", "RWS-LIMIT-11", "RWS-LIMIT-12", "RWS-ERR-6"),
    drives="shortly before the test age limit a long run and requests queued behind it "
    "(conformance-1: a slow run and one queued request); a request just after the limit",
    needs_model=False,
    skip_if=_short_age,
)
async def connection_age(ctx: ScenarioContext) -> None:
    age = ctx.config.test_connection_age
    assert age is not None
    run = await _past_the_age_limit(ctx, None, None)
    sent = _sent_words(run, age)
    created = run.created(None)
    by_limit = run.started_by_limit()
    ctx.note("started_before_the_limit", f"{by_limit} of {run.requests}")
    # RWS-LIMIT-12: a request still queued at the limit never starts (FIFO: the runs of the
    # lane start in request order, so the first ones started are those sent first).
    if not _queues(ctx):
        ctx.not_applicable("RWS-LIMIT-12", "the server declares busy-lane=reject: nothing queues")
    elif by_limit < run.requests:
        late = [m.index for m in created[by_limit : run.requests]]
        ctx.expect(
            "RWS-LIMIT-12",
            not late,
            f"{sent}: {run.requests - by_limit} of them had not started at the limit, yet "
            f"started after it (response.created at messages {late})",
        )
    else:
        not_reached(
            ctx,
            "RWS-LIMIT-12",
            f"all {run.requests} requests sent before the limit had started by then, so none "
            "was queued at the limit",
        )
    if run.after_sent:
        ctx.expect(
            "RWS-LIMIT-1",
            len(created) <= run.requests,
            f"{sent}: the request sent after the limit started a run (response.created at "
            f"message {created[-1].index if created else None})",
        )
    else:
        ctx.not_applicable(
            "RWS-LIMIT-1",
            "the request after the limit was not reached: the runs before it had ended, and "
            "the server had closed the connection at the limit",
        )
    _judge_limit(ctx, run, sent, "RWS-LIMIT-1")


def _judge_limit(ctx: ScenarioContext, run: _AgeRun, sent: str, shape: str) -> None:
    """The limit errors, the runs in flight and the close (``shape``: the requirement the
    errors' status and stream_id are judged under)."""
    errors = run.limit_errors()
    status = error_registry()[_LIMIT_ERROR].get("status")
    for message in errors:
        event = message.event or {}
        ctx.expect(
            shape,
            event.get("status") == status and "stream_id" not in event,
            f"{sent}: the limit error must have status {status} and no stream_id: {dict(event)!r}"[
                :300
            ],
        )
    owed = _unstarted(run)
    if owed:
        # RWS-LIMIT-1, RWS-LIMIT-12: each request that did not start is answered.
        ctx.expect(
            "RWS-LIMIT-1",
            len(errors) >= owed,
            f"{sent}: {owed} request(s) did not start, answered by {len(errors)} "
            f"{_LIMIT_ERROR} error(s)",
        )
    else:
        ctx.not_applicable(
            "RWS-LIMIT-11", "no limit error answered a request: every request sent started"
        )
    # RWS-LIMIT-2: the runs started reach their terminal event, the error is sent, close 1001.
    unfinished = run.unfinished()
    ctx.expect(
        "RWS-LIMIT-2",
        not unfinished,
        f"{sent}: the run(s) {unfinished} started before the limit sent no terminal event",
    )
    ctx.expect("RWS-LIMIT-2", bool(errors), f"{sent}: no {_LIMIT_ERROR} error arrived")
    if not run.closed:
        raise ctx.fail(
            "RWS-LIMIT-2",
            f"{sent}: the connection was still open {ctx.config.timeout:g} s after the last "
            "message (the age limit closes it with 1001 once the runs in flight have ended)",
        )
    code = run.conn.close_code
    ctx.expect("RWS-LIMIT-2", code == 1001, f"{sent}: close code {code}, expected 1001")
    ctx.expect("RWS-ERR-6", code == 1001, f"{sent}: close code {code}, expected 1001")
    in_flight = [
        m.index
        for m in run.conn.messages
        if m.type in TERMINAL_TYPES and m.ts > run.limit_at + run.margin
    ]
    ctx.note("runs_in_flight_at_the_limit", len(in_flight))


# RWS-EVENT-5, RWS-LIMIT-1: the websocket_connection_limit_reached error is connection-scoped,
# also when it answers a request sent on a named lane: it carries no stream_id.
@scenario(
    "limits.connection-age-named-lane",
    "the age-limit error answering a request on a named lane carries no stream_id",
    requirements=("RWS-EVENT-5", "RWS-LIMIT-1"),
    profile="multiplex",
    drives="shortly before the test age limit a long run on stream_id 'a' and requests queued "
    "behind it (conformance-1: a slow run and one queued request); a request on stream_id 'b' "
    "just after the limit",
    needs_model=False,
    skip_if=_short_age,
)
async def connection_age_named_lane(ctx: ScenarioContext) -> None:
    age = ctx.config.test_connection_age
    assert age is not None
    run = await _past_the_age_limit(ctx, "a", "b")
    sent = _sent_words(run, age)
    errors = run.limit_errors()
    carrying = [m.event.get("stream_id") for m in errors if m.event and "stream_id" in m.event]
    if _unstarted(run):
        # RWS-EVENT-5: every limit error, the ones answering named-lane requests included.
        ctx.expect(
            "RWS-EVENT-5",
            not carrying,
            f"{sent}: requests on named lanes were answered with {_LIMIT_ERROR} carrying "
            f"stream_id {carrying}: a connection-scoped error carries no stream_id",
        )
    else:
        not_reached(
            ctx,
            "RWS-EVENT-5",
            "every request on a named lane started before the limit, so no limit error "
            "answered one",
        )
    status = error_registry()[_LIMIT_ERROR].get("status")
    for message in errors:
        ctx.expect(
            "RWS-LIMIT-1",
            (message.event or {}).get("status") == status,
            f"{sent}: {_LIMIT_ERROR} with status {(message.event or {}).get('status')!r}, "
            f"expected {status}",
        )
    if run.after_sent:
        started = [m.index for m in run.created("b")]
        ctx.expect(
            "RWS-LIMIT-1",
            not started,
            f"{sent}: the request on stream_id 'b' sent after the limit started a run "
            f"(response.created at messages {started})",
        )
    late = [m.index for m in run.created("a")[run.started_by_limit() :]]
    ctx.expect(
        "RWS-LIMIT-1",
        not late,
        f"{sent}: requests queued on stream_id 'a' at the limit started after it "
        f"(response.created at messages {late})",
    )
    if not errors and not run.closed:
        ctx.expect(
            "RWS-LIMIT-1",
            False,
            f"{sent}: no {_LIMIT_ERROR} and the connection still open after the limit",
        )


# RWS-LIMIT-4: time with a run in flight is not idle time. Runs lasting longer than the
# idle-timeout keep the connection open, and the idle time counts from their end.
@scenario(
    "limits.idle-timeout-run-in-flight",
    "a run longer than the idle-timeout keeps the connection open; idle time counts from its end",
    requirements=("RWS-LIMIT-4",),
    drives="right after the upgrade, one slow run lasting twice the test idle-timeout "
    "(another model: long answers queued on the default lane); then the connection left idle",
    needs_model=False,
    skip_if=_short_idle,
)
async def idle_run_in_flight(ctx: ScenarioContext) -> None:
    limit = _idle_limit(ctx.config)
    assert limit is not None
    idle, url = limit
    conn = await ctx.connect(url=url)
    requests = _lasting_requests(ctx, _run_lasting(2 * idle), None, queued=None)
    for request in requests:
        await conn.send_json(request, note="long run")
    last_sent = sent_at(ctx, conn)
    sent = (
        f"{len(requests)} request(s) for long runs sent right after the upgrade (idle-timeout "
        f"{idle:g} s), then nothing"
    )

    def all_ended() -> bool:
        ended = [m for m in conn.messages if m.type in TERMINAL_TYPES]
        return len(ended) >= len(requests)

    try:
        await conn.wait_until(
            all_ended, len(requests) * ctx.config.timeout + 2 * idle, what="the end of the runs"
        )
    except ConnectionClosedError:
        count = len([m for m in conn.messages if m.type in TERMINAL_TYPES])
        raise ctx.fail(
            "RWS-LIMIT-4",
            f"{sent}: the server closed the connection (code {conn.close_code}) after "
            f"{count} of the runs had ended, with a run in flight or waiting: with an "
            f"idle-timeout of {idle:g} s, time with a run in flight is not idle",
        ) from None
    except ExpectationTimeout as exc:
        raise ctx.fail("RWS-ORDER-2", f"{sent}: {exc}") from None
    ended_at = max(m.ts for m in conn.messages if m.type in TERMINAL_TYPES)
    busy_for = ended_at - last_sent
    ctx.note("runs_in_flight_for_s", round(busy_for, 3))
    if busy_for <= idle / 2:
        # A server that counts time with runs in flight as idle closes idle seconds after the
        # last request, here within idle/2 of the runs' end: the wait below would not tell.
        ctx.not_applicable(
            "RWS-LIMIT-4",
            f"the run-in-flight part not reached with model {ctx.config.model!r}: the runs "
            f"ended {busy_for:.2f} s after the last request, not longer than half the "
            f"idle-timeout of {idle:g} s",
        )
    ended = trio.current_time()
    # Idle time counts from the end of the runs, not from the requests sent earlier...
    with trio.move_on_after(idle / 2):
        await conn.closed.wait()
    ctx.expect(
        "RWS-LIMIT-4",
        not conn.closed.is_set(),
        f"{sent}: the server closed the connection (code {conn.close_code}) "
        f"{trio.current_time() - ended:.2f} s after the last run's terminal event, before "
        f"its idle-timeout of {idle:g} s: idle time counts from the end of the runs",
    )
    if conn.closed.is_set():
        return
    # ...and the idle-timeout then ends the connection with 1001.
    with trio.move_on_at(ended + idle + ctx.config.timeout / 2):
        await conn.closed.wait()
    ctx.expect(
        "RWS-LIMIT-4",
        conn.close_code == 1001,
        f"{trio.current_time() - ended:.2f} s after the last run's terminal event "
        f"(idle-timeout {idle:g} s) the connection was "
        + (f"closed with code {conn.close_code}" if conn.closed.is_set() else "still open"),
    )
