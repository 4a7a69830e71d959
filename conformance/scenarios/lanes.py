"""Scenarios of lanes, concurrency and forks (RWS-LANE-*, RWS-EVENT-4, RWS-CACHE-6/12).

They run with any model: whether a lane's events carry its stream_id, whether a fork or a
continuation is served, and whether an error stays on its lane show in the outcomes, a run
or an error. ``conformance-1`` also proves the exact parts: its ``rws:context`` answer names
the context a run was served with. The busy-lane checks are in :mod:`.lanes_busy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.config import SuiteConfig
from conformance.harness.context import PrerequisiteFailed, ScenarioContext
from conformance.harness.lanes import TERMINAL_TYPES, Outcome, error_code
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection
from conformance.scenarios._common import (
    INVALID_PARAMETER,
    Usage,
    continuable,
    describe,
    evicts,
    expect_error,
    expect_run_status,
    expect_served,
    not_scripted,
    setup_run,
    short_answer,
    turn,
)
from conformance.scenarios._inflight import Span, in_flight_when, long_turn, sent_at, span_of
from conformance.scenarios._model import context_text, normalise_input
from conformance.scenarios.cache import continue_with_context, done_items

__all__: list[str] = []

_SLOW = "rws:delay ms=60\nrws:text length=12 chunks=3"
# The any-model paths' prompts (conformance-1 gets the directives).
_ASK = "Name three colours, in one short sentence."
_ASK_A = "Now name three animals, in one short sentence."
_ASK_B = "Now name three cities, in one short sentence."


def _response_id(event: Mapping[str, Any]) -> str | None:
    response = event.get("response")
    value = response.get("id") if isinstance(response, Mapping) else None
    return value if isinstance(value, str) else None


def _positions(conn: Connection, lane: str | None) -> list[tuple[int, str, str | None]]:
    """(message index, event type, response id) of the run lifecycle events on a lane."""
    out: list[tuple[int, str, str | None]] = []
    for message in conn.messages:
        event = message.event
        if event is None or event.get("stream_id") != lane:
            continue
        kind = str(event.get("type"))
        if kind == "response.created" or kind in TERMINAL_TYPES or kind == "error":
            out.append((message.index, kind, _response_id(event)))
    return out


# RWS-LANE-4, RWS-EVENT-4: two named lanes run concurrently and carry their stream_id.
@scenario(
    "lanes.two-lanes-concurrent",
    "runs on two named lanes overlap and every event carries its lane's stream_id",
    requirements=("RWS-LANE-4", "RWS-EVENT-4", "RWS-MODEL-1"),
    profile="multiplex",
    drives="long runs (conformance-1: slow runs) on stream_id 'a' and 'b' sent back to back",
    needs_model=False,
)
async def two_lanes(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    index_a = await ctx.send_create(conn, long_turn(ctx, _SLOW, 0, stream_id="a", store=False))
    sent_a = sent_at(ctx, conn)
    index_b = await ctx.send_create(conn, long_turn(ctx, _SLOW, 1, stream_id="b", store=False))
    sent_b = sent_at(ctx, conn)
    sent = "two long runs sent back to back on stream_id 'a' and 'b'"
    try:
        run_a = await ctx.outcome(conn, index_a, "a", what="the run on lane a")
        run_b = await ctx.outcome(conn, index_b, "b", what="the run on lane b")
    finally:
        # Judged also when the runs cannot be found on their lanes: events that lost their
        # stream_id land on the default lane. Here every event belongs to lane a or b.
        unlabelled = [
            m.type for m in conn.messages if m.event is not None and "stream_id" not in m.event
        ]
        ctx.expect(
            "RWS-EVENT-4",
            not unlabelled,
            f"{sent}: lane events without stream_id: {unlabelled[:5]}",
        )
    for lane, run in (("a", run_a), ("b", run_b)):
        expect_served(ctx, run, "RWS-LANE-4", what=f"{sent}: the run on lane {lane}")
        if ctx.config.scripted:
            expect_run_status(ctx, run, "completed", "RWS-MODEL-1", what=f"lane {lane}")
    if not ctx.config.scripted:
        not_scripted(ctx, "RWS-MODEL-1", "a run that plays its directives")
    a_end = max((i for i, kind, _ in _positions(conn, "a") if kind in TERMINAL_TYPES), default=0)
    b_start = min(
        (i for i, kind, _ in _positions(conn, "b") if kind == "response.created"), default=0
    )
    span_a = span_of(conn, run_a.response_id, sent_a)
    if b_start < a_end:
        ctx.expect("RWS-LANE-4", True, "")
        ctx.note("overlap", "observed: lane b's run started before lane a's run ended")
    elif in_flight_when(span_a, sent_b, ctx.config.quiet_period):
        # Lane a's run was still in flight when lane b's request arrived, yet b waited.
        ctx.expect(
            "RWS-LANE-4",
            False,
            f"{sent}: lane b's run started (message {b_start}) only after lane a's run ended "
            f"(message {a_end}), although lane a's run was still in flight when lane b's "
            "request arrived: the lanes were serialised",
        )
    else:
        ctx.note(
            "overlap",
            f"not reached with model {ctx.config.model!r}: lane a's run had ended before lane "
            "b's request reached the server, so the runs could not overlap",
        )


# RWS-LANE-3: invalid stream ids are rejected with invalid_stream_id and no stream_id.
@scenario(
    "lanes.invalid-stream-id",
    "invalid stream_id values are rejected with invalid_stream_id; a 256-character id works",
    requirements=("RWS-LANE-3",),
    profile="multiplex",
    drives="stream_id '' , 'has space', 257 letters; then 256 letters with generate:false",
    needs_model=False,
)
async def invalid_stream_id(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    for bad in ("", "has space", "x" * 257):
        since = len(conn.messages)
        await conn.send_json(ctx.create("hi", generate=False, stream_id=bad))

        def rejected(message: Any) -> bool:
            return message.event is not None and message.type == "error"

        message = await conn.expect_within(rejected, ctx.config.timeout, since=since)
        event = message.event or {}
        ok = error_code(event) == "invalid_stream_id" and "stream_id" not in event
        inner = event.get("error")
        param = inner.get("param") if isinstance(inner, Mapping) else None
        ctx.expect(
            "RWS-LANE-3",
            ok and event.get("status") == 400 and param == "stream_id",
            f"stream_id {bad[:20]!r}: expected invalid_stream_id (400, param stream_id, no "
            f"stream_id), got {dict(event)!r}"[:300],
        )
    good = "L" * 256
    run = await ctx.request(conn, ctx.create("hi", generate=False, stream_id=good))
    expect_run_status(ctx, run, "completed", "RWS-LANE-3", what="a 256-character stream_id")


# RWS-LANE-5: the named-lane limit.
@scenario(
    "lanes.named-lane-limit",
    "the declared number of named lanes is accepted and one more is refused",
    requirements=("RWS-LANE-5",),
    profile="multiplex",
    drives="generate:false requests on max-named-lanes distinct lanes, then one more lane",
    needs_model=False,
)
async def lane_limit(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    limit = ctx.config.int_parameter("max-named-lanes") or 32
    indexes = [
        await ctx.send_create(conn, ctx.create("hi", generate=False, stream_id=f"lane-{n}"))
        for n in range(limit)
    ]
    for n, index in enumerate(indexes):
        run = await ctx.outcome(conn, index, f"lane-{n}", what=f"lane {n + 1} of {limit}")
        if not expect_run_status(ctx, run, "completed", "RWS-LANE-5", what=f"lane {n + 1}"):
            return
    extra = f"lane-{limit}"
    outcome = await ctx.request(conn, ctx.create("hi", generate=False, stream_id=extra))
    if expect_error(
        ctx,
        outcome,
        "websocket_stream_limit_reached",
        "RWS-LANE-5",
        what="one lane too many",
        param="stream_id",
    ):
        ctx.expect(
            "RWS-LANE-5",
            outcome.first.get("stream_id") == extra,
            f"the limit error carries stream_id {outcome.first.get('stream_id')!r}",
        )
    reuse = await ctx.request(conn, ctx.create("hi", generate=False, stream_id="lane-0"))
    expect_run_status(ctx, reuse, "completed", "RWS-LANE-5", what="reusing a counted lane")


# RWS-LANE-7, RWS-CACHE-12, RWS-CACHE-6: fork from another lane's entry.
@scenario(
    "lanes.fork",
    "a new lane forks another lane's entry; both run concurrently; a failed fork keeps it",
    requirements=("RWS-LANE-7", "RWS-CACHE-12", "RWS-CACHE-6"),
    profile="multiplex",
    drives="run on lane a; fork it on lane b and continue it on lane a, back to back "
    "(conformance-1: 'rws:context'); a failing fork on lane c (conformance-1: 'rws:fail', "
    "another model: temperature 'hot'); continue lane a",
    needs_model=False,
)
async def fork(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    parent = await setup_run(
        ctx, conn, "rws:text length=16", _ASK, stream_id="a", store=False, what="the run on a"
    )
    fields = {"store": False, "previous_response_id": parent.response_id}
    directive = "rws:delay ms=60\nrws:context"
    # The fork first: a fork that arrives after lane a has moved on may miss a store:false
    # parent (spec/cache.md 7.6 leaves when the parent is bound open), however fast the model.
    # Short answers with another model: the two runs overlap all the same when the server
    # runs them concurrently, and wait for each other only briefly when it does not.
    fields.update(short_answer(ctx))
    index_b = await ctx.send_create(conn, turn(ctx, directive, _ASK_B, stream_id="b", **fields))
    sent_b = sent_at(ctx, conn)
    index_a = await ctx.send_create(conn, turn(ctx, directive, _ASK_A, stream_id="a", **fields))
    sent_a = sent_at(ctx, conn)
    run_a = await ctx.outcome(conn, index_a, "a", what="continuation on lane a")
    run_b = await ctx.outcome(conn, index_b, "b", what="fork on lane b")
    sent = (
        f"response {parent.response_id} (store:false) ended {parent.status} on lane a; it was "
        "forked on the new lane b and continued on lane a, the two requests back to back"
    )
    # RWS-LANE-7: the fork is served from lane a's entry; RWS-CACHE-12: so is lane a's own
    # continuation, which replaces that entry while the fork is bound to it.
    expect_served(ctx, run_b, "RWS-LANE-7", what=f"{sent}: the fork on lane b")
    expect_served(ctx, run_a, "RWS-CACHE-12", what=f"{sent}: the continuation on lane a")
    expect_served(ctx, run_b, "RWS-CACHE-12", what=f"{sent}: the fork on lane b")
    _fork_runs_concurrently(
        ctx,
        sent,
        span_of(conn, run_b.response_id, sent_b),
        span_of(conn, run_a.response_id, sent_a),
    )
    if ctx.config.scripted:
        want = context_text(
            [
                *normalise_input("rws:text length=16"),
                *done_items(parent),
                *normalise_input(directive),
            ]
        )
        for lane, run in (("a", run_a), ("b", run_b)):
            ctx.expect(
                "RWS-LANE-7" if lane == "b" else "RWS-CACHE-12",
                run.output_texts() == [want],
                f"lane {lane} answered {run.output_texts()!r}, expected [{want!r}]",
            )
    else:
        for requirement in ("RWS-LANE-7", "RWS-CACHE-12"):
            not_scripted(ctx, requirement, "the exact context a fork is served with")
    if run_a.status not in continuable(ctx):
        return
    await _failing_fork(ctx, conn, run_a)


def _fork_runs_concurrently(ctx: ScenarioContext, sent: str, fork: Span, source: Span) -> None:
    """RWS-LANE-7: after the fork, the fork and its source lane run concurrently.

    Judged like two lanes (RWS-LANE-4): the run that started second must not have waited for
    the first to end while the first was still in flight when its request arrived. A model
    that answers before the second request reaches the server leaves the rule not reached.
    """
    if None in (fork.created, fork.ended, source.created, source.ended):
        return  # a run that did not happen is judged above (served or not)
    first, second = sorted((fork, source), key=lambda span: span.created or 0.0)
    names = {fork.response_id: "the fork on lane b", source.response_id: "lane a's run"}
    if (second.created or 0.0) < (first.ended or 0.0):
        ctx.expect("RWS-LANE-7", True, "")
        ctx.note("fork_overlap", "observed: the fork and lane a's run overlapped")
    elif in_flight_when(first, second.sent, ctx.config.quiet_period):
        ctx.expect(
            "RWS-LANE-7",
            False,
            f"{sent}: {names[second.response_id]} started only after {names[first.response_id]} "
            f"ended, although {names[first.response_id]} was still in flight when the other "
            "request arrived: the fork and its source lane were serialised",
        )
    else:
        ctx.note(
            "fork_overlap",
            f"not reached with model {ctx.config.model!r}: the first run had ended before "
            "the second request reached the server, so the runs could not overlap",
        )


async def _failing_fork(ctx: ScenarioContext, conn: Connection, source: Outcome) -> None:
    """RWS-CACHE-6: a failing fork of lane a's entry on lane c does not evict the entry."""
    fields = {"stream_id": "c", "store": False, "previous_response_id": source.response_id}
    if ctx.config.scripted:
        sent = f"a fork of {source.response_id} on lane c that fails ('rws:fail after=2')"
        failing = await ctx.request(
            conn, ctx.create("rws:fail after=2", **fields), what="the failing fork"
        )
        failed = failing.status == "failed"
    else:
        name, value = INVALID_PARAMETER
        sent = f"a fork of {source.response_id} on lane c with {name} {value!r} (refused)"
        failing = await ctx.request(
            conn,
            turn(ctx, "rws:text length=4", _ASK_B, **fields, **{name: value}),
            what="the failing fork",
        )
        failed = failing.kind == "error" and evicts(failing.code) is True
    if not failed:
        raise PrerequisiteFailed(
            f"{sent} got {describe(failing)}; the check needs a fork that fails the way a "
            "continuation of the lane's own entry would be evicted for"
        )
    kept = await continue_with_context(ctx, conn, source, store=False, what="after", stream_id="a")
    expect_served(
        ctx,
        kept,
        "RWS-CACHE-6",
        what=f"response {source.response_id} is lane a's entry; after {sent} got "
        f"{describe(failing)}, continuing it on lane a",
    )


# RWS-LANE-6: an error on one lane disturbs neither a run nor the entry of another.
@scenario(
    "lanes.error-isolated",
    "a request error on one lane leaves another lane's run and cached entry alone",
    requirements=("RWS-LANE-6", "RWS-EVENT-4"),
    profile="multiplex",
    drives="long run (conformance-1: a slow one) on lane a; invalid request on lane b "
    "meanwhile; continue lane a",
    needs_model=False,
)
async def error_isolated(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    index_a = await ctx.send_create(conn, long_turn(ctx, _SLOW, 0, stream_id="a", store=False))
    bad = await ctx.request(conn, ctx.create(12345, stream_id="b"), what="invalid on lane b")
    ctx.expect(
        "RWS-EVENT-4",
        bad.kind == "error" and bad.first.get("stream_id") == "b",
        f"the error for lane b: {describe(bad)} carrying stream_id {bad.first.get('stream_id')!r}",
    )
    run_a = await ctx.outcome(conn, index_a, "a", what="the run on lane a")
    # Whether lane a's run was still streaming when lane b's error arrived (else the check
    # showed only that lane a's entry survived the error).
    ended = [m.index for m in conn.messages if m.type in TERMINAL_TYPES]
    errors = [m.index for m in conn.messages if m.type == "error"]
    ctx.note("run_in_flight_at_error", bool(ended and errors) and errors[0] < ended[0])
    sent = (
        "a long run on lane a, then an invalid request (input 12345) on lane b, answered "
        f"{describe(bad)}"
    )
    if expect_served(ctx, run_a, "RWS-LANE-6", what=f"{sent}: lane a's run"):
        kept = await continue_with_context(ctx, conn, run_a, store=False, what="a", stream_id="a")
        expect_served(
            ctx, kept, "RWS-LANE-6", what=f"{sent}: continuing lane a's entry {run_a.response_id}"
        )


# RWS-LANE-8: a lane does not carry history.
@scenario(
    "lanes.stream-id-is-not-history",
    "reusing a lane without previous_response_id starts a new conversation",
    requirements=("RWS-LANE-8",),
    profile="multiplex",
    drives="run on lane a; second run on lane a without previous_response_id (conformance-1: "
    "'rws:context'; another model: the same request on lane b too, to compare the usage)",
    needs_model=False,
)
async def not_history(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    first = await setup_run(ctx, conn, "rws:text length=16", _ASK, stream_id="a", store=False)
    run = await ctx.request(conn, turn(ctx, "rws:context", _ASK_A, stream_id="a", store=False))
    if ctx.config.scripted:
        want = context_text(normalise_input("rws:context"))
        ctx.expect(
            "RWS-LANE-8",
            run.output_texts() == [want],
            f"the second run saw {run.output_texts()!r}, expected [{want!r}]",
        )
        return
    sent = (
        f"response {first.response_id} ended {first.status} on lane a; a second request on "
        "lane a without previous_response_id"
    )
    expect_served(ctx, run, "RWS-LANE-8", what=sent)
    previous = run.response.get("previous_response_id")
    ctx.expect(
        "RWS-LANE-8",
        previous is None or previous != first.response_id,
        f"{sent}: its response names previous_response_id {previous!r}, the lane's earlier "
        "response: the lane selected history",
    )
    # The same request on a fresh lane: a reused lane that carried history would count the
    # earlier turn in its input tokens. Usage is data for a model other than conformance-1.
    control = await ctx.request(
        conn, turn(ctx, "rws:context", _ASK_A, stream_id="b", store=False), what="on lane b"
    )
    ctx.note("usage_evidence", _history_evidence(run, control))
    not_scripted(ctx, "RWS-LANE-8", "the exact context a run on a reused lane sees")


def _history_evidence(reused: Outcome, fresh: Outcome) -> str:
    """What the input tokens of one request on a reused lane and on a new lane say."""
    on_reused, on_fresh = Usage.of(reused).input_tokens, Usage.of(fresh).input_tokens
    if on_reused is None or on_fresh is None:
        return "not judged: the server does not report input_tokens"
    if on_reused > on_fresh:
        return (
            f"evidence of carried history: the request counts {on_reused} input tokens on the "
            f"reused lane a and {on_fresh} on the new lane b"
        )
    return f"consistent: the request counts {on_reused} input tokens on lane a, {on_fresh} on b"


def _multiplex_declared(config: SuiteConfig) -> str | None:
    if "multiplex" in config.profiles:
        return "the server declares the multiplex profile; RWS-LANE-12 applies only without it"
    return None


# RWS-LANE-12 (SHOULD): a core-only server refuses stream_id instead of ignoring it.
@scenario(
    "lanes.stream-id-without-multiplex",
    "a server without the multiplex profile answers stream_id with unsupported_parameter",
    requirements=("RWS-LANE-12",),
    drives="one generate:false request with stream_id 'a'",
    needs_model=False,
    skip_if=_multiplex_declared,
)
async def stream_id_without_multiplex(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    # An answer on the default lane (the stream_id ignored) never shows up on lane 'a'; the
    # timeout is then charged to RWS-LANE-12 rather than to RWS-CREATE-12.
    outcome = await ctx.request(
        conn, ctx.create("hi", generate=False, stream_id="a"), requirement="RWS-LANE-12"
    )
    if expect_error(
        ctx, outcome, "unsupported_parameter", "RWS-LANE-12", what="stream_id", param="stream_id"
    ):
        ctx.expect(
            "RWS-LANE-12",
            outcome.first.get("stream_id") == "a",
            f"the error carries stream_id {outcome.first.get('stream_id')!r}, expected 'a'",
        )


def _first_overlap(conn: Connection, lane: str | None) -> str | None:
    """Where a run on ``lane`` started before the previous run there ended (None: nowhere)."""
    running: tuple[int, str | None] | None = None  # (message index, response id)
    for index, kind, response_id in _positions(conn, lane):
        if kind == "response.created":
            if running is not None:
                return (
                    f"run {response_id} sent response.created (message {index}) while run "
                    f"{running[1]} (response.created at message {running[0]}) had not sent its "
                    "terminal event"
                )
            running = (index, response_id)
        elif kind in TERMINAL_TYPES:
            running = None
    return None
