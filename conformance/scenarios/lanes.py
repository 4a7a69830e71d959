"""Scenarios of lanes, concurrency and forks (RWS-LANE-*, RWS-EVENT-4, RWS-CACHE-6/12)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.config import SuiteConfig
from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import TERMINAL_TYPES, error_code
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection
from conformance.scenarios._common import describe, expect_error, expect_run_status
from conformance.scenarios._model import context_text, normalise_input
from conformance.scenarios.cache import continue_with_context, done_items

__all__: list[str] = []

_SLOW = "rws:delay ms=60\nrws:text length=12 chunks=3"


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


def _busy_policy(config: SuiteConfig) -> str:
    return config.parameter("busy-lane") or "queue"


# RWS-LANE-1, RWS-LANE-2, RWS-LANE-9: two requests on a busy default lane.
@scenario(
    "lanes.busy-default-lane",
    "a second request on a busy lane is queued (or rejected) per the declared busy-lane policy",
    requirements=("RWS-LANE-1", "RWS-LANE-2", "RWS-LANE-9"),
    # Under busy-lane=reject a second request on a busy lane is the point of the check.
    deliberate=("RWS-CLIENT-3",),
    drives="three back-to-back requests on the default lane: slow run, run, invalid request",
)
async def busy_lane(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    policy = _busy_policy(ctx.config)
    ctx.note("busy_lane_policy", policy)
    first_index = await ctx.send_create(conn, ctx.create(_SLOW, store=False))
    second_index = await ctx.send_create(conn, ctx.create("rws:text length=8", store=False))
    third_index = await ctx.send_create(conn, ctx.create(12345))
    first = await ctx.outcome(conn, first_index, what="the first request")
    second = await ctx.outcome(conn, second_index, what="the second request")
    third = await ctx.outcome(conn, third_index, what="the invalid third request")
    if policy == "reject":
        # RWS-LANE-9: outcomes in request order - the first request's run starts before the
        # refusals of the requests that arrived while it was busy.
        created_at = next((m.index for m in conn.messages if m.type == "response.created"), None)
        refused_at = next((m.index for m in conn.messages if m.type == "error"), None)
        in_order = created_at is not None and (refused_at is None or created_at < refused_at)
        ctx.expect(
            "RWS-LANE-9",
            in_order,
            f"a refusal (message {refused_at}) came before the first request's "
            f"response.created (message {created_at})",
        )
        if not in_order:
            return
        expect_error(ctx, second, "response_already_in_flight", "RWS-LANE-2", what="busy lane")
        ctx.expect("RWS-LANE-1", first.status == "completed", f"first: {describe(first)}")
        return
    expect_run_status(ctx, first, "completed", "RWS-LANE-2", what="the first run")
    expect_run_status(ctx, second, "completed", "RWS-LANE-2", what="the queued run")
    # RWS-LANE-1: no event of the second run before the first run's terminal event.
    positions = _positions(conn, None)
    first_end = next(
        (i for i, kind, rid in positions if kind in TERMINAL_TYPES and rid == first.response_id),
        None,
    )
    second_start = next(
        (
            i
            for i, kind, rid in positions
            if kind == "response.created" and rid != first.response_id
        ),
        None,
    )
    overlap = first_end is None or second_start is None or second_start < first_end
    ctx.expect(
        "RWS-LANE-1",
        not overlap,
        f"the second run started (message {second_start}) before the first ended "
        f"(message {first_end})",
    )
    # RWS-LANE-9: the error of the queued invalid request comes after the runs before it.
    error_at = next(
        (m.index for m in conn.messages if m.event is not None and m.type == "error"), None
    )
    second_end = max((i for i, kind, _ in positions if kind in TERMINAL_TYPES), default=None)
    ctx.expect(
        "RWS-LANE-9",
        third.kind == "error"
        and error_at is not None
        and second_end is not None
        and error_at > second_end,
        f"the queued invalid request was answered ({describe(third)}) at message {error_at}, "
        f"before the runs ahead of it ended (message {second_end})",
    )


# RWS-LANE-4, RWS-EVENT-4: two named lanes run concurrently and carry their stream_id.
@scenario(
    "lanes.two-lanes-concurrent",
    "runs on two named lanes overlap and every event carries its lane's stream_id",
    requirements=("RWS-LANE-4", "RWS-EVENT-4", "RWS-MODEL-1"),
    profile="multiplex",
    extra_profiles=("conformance-model",),
    drives="slow runs on stream_id 'a' and 'b' sent back to back",
)
async def two_lanes(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    index_a = await ctx.send_create(conn, ctx.create(_SLOW, stream_id="a", store=False))
    index_b = await ctx.send_create(conn, ctx.create(_SLOW, stream_id="b", store=False))
    run_a = await ctx.outcome(conn, index_a, "a", what="the run on lane a")
    run_b = await ctx.outcome(conn, index_b, "b", what="the run on lane b")
    for lane, run in (("a", run_a), ("b", run_b)):
        expect_run_status(ctx, run, "completed", "RWS-MODEL-1", what=f"lane {lane}")
    # The last events without stream_id would be lane events that lost their stream_id.
    unlabelled = [
        m.type for m in conn.messages if m.event is not None and "stream_id" not in m.event
    ]
    ctx.expect("RWS-EVENT-4", not unlabelled, f"lane events without stream_id: {unlabelled[:5]}")
    created = {lane: _positions(conn, lane) for lane in ("a", "b")}
    a_end = max((i for i, kind, _ in created["a"] if kind in TERMINAL_TYPES), default=None)
    b_start = min((i for i, kind, _ in created["b"] if kind == "response.created"), default=None)
    ctx.expect(
        "RWS-LANE-4",
        a_end is not None and b_start is not None and b_start < a_end,
        "lane b's run did not start before lane a's run ended: the lanes were serialised",
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
    extra_profiles=("conformance-model",),
    drives="run on lane a; fork it on lane b with rws:context while a continues; failing fork "
    "on lane c; continue a",
)
async def fork(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    parent = await ctx.completed(conn, ctx.create("rws:text length=16", stream_id="a", store=False))
    restored = normalise_input("rws:text length=16") + done_items(parent)
    slow_fields = {"store": False, "previous_response_id": parent.response_id}
    index_a = await ctx.send_create(
        conn, ctx.create("rws:delay ms=60\nrws:context", stream_id="a", **slow_fields)
    )
    index_b = await ctx.send_create(
        conn, ctx.create("rws:delay ms=60\nrws:context", stream_id="b", **slow_fields)
    )
    run_a = await ctx.outcome(conn, index_a, "a", what="continuation on lane a")
    run_b = await ctx.outcome(conn, index_b, "b", what="fork on lane b")
    want = context_text([*restored, *normalise_input("rws:delay ms=60\nrws:context")])
    for lane, run in (("a", run_a), ("b", run_b)):
        if expect_run_status(ctx, run, "completed", "RWS-LANE-7", what=f"lane {lane}"):
            ctx.expect(
                "RWS-LANE-7" if lane == "b" else "RWS-CACHE-12",
                run.output_texts() == [want],
                f"lane {lane} answered {run.output_texts()!r}, expected [{want!r}]",
            )
    # RWS-CACHE-6: a failing fork of lane a's new entry does not evict it.
    failing = await ctx.request(
        conn,
        ctx.create(
            "rws:fail after=2", stream_id="c", store=False, previous_response_id=run_a.response_id
        ),
        what="the failing fork",
    )
    if failing.status != "failed":
        raise ctx.fail(
            "RWS-CACHE-6", f"prerequisite: expected a failed fork, got {describe(failing)}"
        )
    kept = await continue_with_context(ctx, conn, run_a, store=False, what="after", stream_id="a")
    expect_run_status(ctx, kept, "completed", "RWS-CACHE-6", what="continuing lane a after it")


# RWS-LANE-6: an error on one lane disturbs neither a run nor the entry of another.
@scenario(
    "lanes.error-isolated",
    "a request error on one lane leaves another lane's run and cached entry alone",
    requirements=("RWS-LANE-6", "RWS-EVENT-4"),
    profile="multiplex",
    extra_profiles=("conformance-model",),
    drives="slow run on lane a; invalid request on lane b meanwhile; continue lane a",
)
async def error_isolated(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    index_a = await ctx.send_create(conn, ctx.create(_SLOW, stream_id="a", store=False))
    bad = await ctx.request(conn, ctx.create(12345, stream_id="b"), what="invalid on lane b")
    ctx.expect(
        "RWS-EVENT-4",
        bad.kind == "error" and bad.first.get("stream_id") == "b",
        f"the error for lane b: {describe(bad)} carrying stream_id {bad.first.get('stream_id')!r}",
    )
    run_a = await ctx.outcome(conn, index_a, "a", what="the run on lane a")
    if expect_run_status(ctx, run_a, "completed", "RWS-LANE-6", what="lane a's run"):
        kept = await continue_with_context(ctx, conn, run_a, store=False, what="a", stream_id="a")
        expect_run_status(ctx, kept, "completed", "RWS-LANE-6", what="lane a's entry after it")


# RWS-LANE-8: a lane does not carry history.
@scenario(
    "lanes.stream-id-is-not-history",
    "reusing a lane without previous_response_id starts a new conversation",
    requirements=("RWS-LANE-8",),
    profile="multiplex",
    extra_profiles=("conformance-model",),
    drives="run on lane a; second run on lane a with 'rws:context' and no previous_response_id",
)
async def not_history(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    await ctx.completed(conn, ctx.create("rws:text length=16", stream_id="a", store=False))
    run = await ctx.request(conn, ctx.create("rws:context", stream_id="a", store=False))
    want = context_text(normalise_input("rws:context"))
    ctx.expect(
        "RWS-LANE-8",
        run.output_texts() == [want],
        f"the second run saw {run.output_texts()!r}, expected [{want!r}]",
    )


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


# RWS-LANE-1, RWS-LANE-2 on a named lane: the runs of every lane follow one another, not
# only those of the default lane.
@scenario(
    "lanes.busy-named-lane",
    "a second request on a busy named lane is queued (or rejected) and never overlaps the first",
    requirements=("RWS-LANE-1", "RWS-LANE-2"),
    profile="multiplex",
    extra_profiles=("conformance-model",),
    # Under busy-lane=reject a second request on a busy lane is the point of the check.
    deliberate=("RWS-CLIENT-3",),
    drives="two back-to-back requests on stream_id 'a': a slow run, then a short one",
)
async def busy_named_lane(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    policy = _busy_policy(ctx.config)
    ctx.note("busy_lane_policy", policy)
    index_1 = await ctx.send_create(conn, ctx.create(_SLOW, stream_id="a", store=False))
    index_2 = await ctx.send_create(
        conn, ctx.create("rws:text length=8", stream_id="a", store=False)
    )
    try:
        first = await ctx.outcome(conn, index_1, "a", what="the first request on lane a")
        second = await ctx.outcome(conn, index_2, "a", what="the second request on lane a")
    finally:
        # Judged also when the outcomes could not be told apart: overlapping runs interleave.
        overlap = _first_overlap(conn, "a")
        ctx.expect(
            "RWS-LANE-1",
            overlap is None,
            f"two requests sent back to back on stream_id 'a' (a slow run, then a short one): "
            f"{overlap}; runs on one lane must not overlap",
        )
    expect_run_status(ctx, first, "completed", "RWS-LANE-1", what="the first run on lane a")
    if policy == "reject":
        expect_error(
            ctx, second, "response_already_in_flight", "RWS-LANE-2", what="busy named lane"
        )
    else:
        expect_run_status(ctx, second, "completed", "RWS-LANE-2", what="the queued run on lane a")


# A run on the default lane that lasts while the named lanes are filled (about 0.9 s).
_DEFAULT_BUSY = "rws:delay ms=60\nrws:text length=40 chunks=8"


# RWS-LANE-5: the default lane does not count toward max-named-lanes (spec/lanes.md, 8.2).
@scenario(
    "lanes.named-lane-limit-default-busy",
    "with a run in flight on the default lane, the declared number of named lanes is accepted",
    requirements=("RWS-LANE-5",),
    profile="multiplex",
    extra_profiles=("conformance-model",),
    drives="a slow run on the default lane; while it runs, generate:false requests on "
    "max-named-lanes distinct named lanes, one after the other",
)
async def lane_limit_default_busy(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    limit = ctx.config.int_parameter("max-named-lanes") or 32
    default_index = await ctx.send_create(conn, ctx.create(_DEFAULT_BUSY, store=False))
    await conn.expect_within(
        lambda m: m.type == "response.created" and "stream_id" not in (m.event or {}),
        ctx.config.timeout,
        what="response.created of the run on the default lane",
    )
    for n in range(limit):
        lane = f"lane-{n}"
        run = await ctx.request(
            conn,
            ctx.create("hi", generate=False, store=False, stream_id=lane),
            what=f"named lane {n + 1} of {limit}",
        )
        if not expect_run_status(
            ctx,
            run,
            "completed",
            "RWS-LANE-5",
            what=f"stream_id {lane!r}, named lane {n + 1} of the declared max-named-lanes "
            f"{limit}, sent while a run was in flight on the default lane (which does not "
            "count toward the limit)",
        ):
            return
    filled = len(conn.messages)
    default = await ctx.outcome(conn, default_index, what="the run on the default lane")
    expect_run_status(ctx, default, "completed", "RWS-LANE-5", what="the run on the default lane")
    # Whether the default lane was busy until the last named lane was accepted (else the check
    # showed only that a default lane already used does not count).
    ended = [i for i, kind, _ in _positions(conn, None) if kind in TERMINAL_TYPES]
    ctx.note("default_lane_busy_throughout", bool(ended) and ended[0] >= filled)
