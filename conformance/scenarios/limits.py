"""Scenarios of limits and robustness (RWS-LIMIT-*, RWS-ERR-6)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import trio

from conformance.harness.config import SuiteConfig, responses_url
from conformance.harness.context import PrerequisiteFailed, ScenarioContext
from conformance.harness.lanes import TERMINAL_TYPES, error_registry, outcomes
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection, ConnectionClosedError, ExpectationTimeout, Message
from conformance.scenarios._common import (
    describe,
    expect_error,
    expect_run_status,
    expect_served,
    is_error,
    setup_run,
    turn,
)

__all__: list[str] = []

# A declared limit this short or shorter is one the suite can wait for.
_TESTABLE_LIMIT_S = 30.0


def _short_age(config: SuiteConfig) -> str | None:
    if config.test_connection_age is None:
        return (
            "the connection-age limit can be waited for only when the server runs with a short "
            "age for testing: start it so and pass --test-connection-age SECONDS"
        )
    return None


def _idle_limit(config: SuiteConfig) -> tuple[float, str] | None:
    """The idle-timeout the suite can wait for, and the URL of the server that has it.

    A test instance with a short idle-timeout (``--test-idle-timeout``, at
    ``--idle-limit-url`` or the server URL) comes first; else a declared idle-timeout of at
    most 30 s of the server itself; else None.
    """
    if config.test_idle_timeout is not None:
        url = config.idle_limit_url
        return config.test_idle_timeout, responses_url(url) if url else config.url
    idle = config.parameter("idle-timeout")
    try:
        seconds = float(idle) if idle is not None else None
    except ValueError:
        seconds = None
    if seconds is None or seconds > _TESTABLE_LIMIT_S:
        return None
    return seconds, config.url


def _short_idle(config: SuiteConfig) -> str | None:
    if _idle_limit(config) is None:
        return (
            "no idle-timeout of at most 30 s declared (--server-param idle-timeout=SECONDS) "
            "and no test instance with a short one (--test-idle-timeout SECONDS, "
            "--idle-limit-url URL); RWS-LIMIT-4 applies only to a server that declares one"
        )
    return None


# RWS-LIMIT-12: with busy-lane=queue, a request queued behind the slow run never starts.
# RWS-LIMIT-1, RWS-LIMIT-2, RWS-ERR-6: at the age limit: no new runs, running ones finish,
# websocket_connection_limit_reached, close 1001. RWS-LIMIT-11 (SHOULD, judged by the checker):
# the limit error answering the request sent after the limit waits for the slow run's end.
@scenario(
    "limits.connection-age",
    "at the connection-age limit new requests are refused, running runs end, close 1001",
    requirements=("RWS-LIMIT-1", "RWS-LIMIT-2", "RWS-LIMIT-11", "RWS-LIMIT-12", "RWS-ERR-6"),
    drives="a slow run started just before the test age limit, a request queued behind it "
    "(busy-lane=queue); a request just after the limit",
    skip_if=_short_age,
)
async def connection_age(ctx: ScenarioContext) -> None:
    age = ctx.config.test_connection_age
    assert age is not None
    url = ctx.config.age_limit_url
    conn = await ctx.connect(url=responses_url(url) if url else None)
    # Measured once the upgrade completed: the server's clock started earlier, so "after the
    # limit" below is after it for the server too.
    opened = trio.current_time()
    # With a declared idle-timeout shorter than the test age, keep the connection busy until
    # just before the limit, so that the idle limit (RWS-LIMIT-4) cannot close it first.
    lead = min(1.0, age / 3)  # the slow run starts this long before the limit
    idle = ctx.config.parameter("idle-timeout")
    keep_busy = idle is not None and idle.replace(".", "", 1).isdigit() and float(idle) < age
    while keep_busy and trio.current_time() < opened + age - 2 * lead:
        await ctx.request(conn, ctx.create("keep-alive", generate=False, store=False))
        await trio.sleep(min(0.25, max(0.0, opened + age - 2 * lead - trio.current_time())))
    await trio.sleep_until(opened + age - lead)
    if trio.current_time() > opened + age - lead / 2:
        raise PrerequisiteFailed("the suite could not start the slow run before the age limit")
    # About 14 events, each delayed: the run spans the limit by a wide margin.
    slow = f"rws:delay ms={int(lead * 1000 / 5)}\nrws:text length=30 chunks=10"
    index = await ctx.send_create(conn, ctx.create(slow, store=False))
    queued = ctx.config.parameter("busy-lane") == "queue"
    if queued:
        await conn.send_json(ctx.create("rws:text length=4", store=False), note="queued")
    else:
        ctx.not_applicable("RWS-LIMIT-12", "the server declares busy-lane=reject: nothing queues")
    await trio.sleep_until(opened + age + lead / 2)
    since = len(conn.messages)
    await conn.send_json(ctx.create("rws:text length=4", store=False), note="after the limit")
    try:
        limit = await conn.expect_within(
            is_error("websocket_connection_limit_reached"), ctx.config.timeout, since=since
        )
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail(
            "RWS-LIMIT-1", f"no websocket_connection_limit_reached after the age limit: {exc}"
        ) from exc
    event = limit.event or {}
    ctx.expect(
        "RWS-LIMIT-1",
        event.get("status") == 400 and "stream_id" not in event,
        f"the limit error must have status 400 and no stream_id: {dict(event)!r}"[:300],
    )
    run = await ctx.outcome(
        conn, index, what="the run started before the limit", requirement="RWS-LIMIT-2"
    )
    expect_run_status(ctx, run, "completed", "RWS-LIMIT-2", what="the run spanning the limit")
    late = [
        m.index
        for m in conn.messages[since:]
        if m.type == "response.created" and _response_id(m) != run.response_id
    ]
    # One lane, FIFO (RWS-LANE-1): a late run is first the queued request's, then the late one's.
    if queued:
        ctx.expect(
            "RWS-LIMIT-12",
            not late,
            f"the request queued behind the slow run before the age limit started after it "
            f"(response.created at message {late[0] if late else None})",
        )
    ctx.expect(
        "RWS-LIMIT-1",
        len(late) <= (1 if queued else 0),
        f"the request sent after the age limit started a run (messages {late})",
    )

    def closed(message: Message) -> bool:
        return message.kind == "close"

    try:
        close = await conn.expect_within(closed, ctx.config.timeout, what="the close")
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail("RWS-LIMIT-2", f"the connection was not closed: {exc}") from exc
    ctx.expect("RWS-LIMIT-2", close.close_code == 1001, f"close code {close.close_code}")
    ctx.expect("RWS-ERR-6", close.close_code == 1001, f"close code {close.close_code}")


def _response_id(message: Message) -> str | None:
    response = (message.event or {}).get("response")
    value = response.get("id") if isinstance(response, Mapping) else None
    return value if isinstance(value, str) else None


# RWS-LIMIT-4: the idle timeout closes with 1001 after idle time only.
@scenario(
    "limits.idle-timeout",
    "an idle connection is closed with 1001 after the declared idle-timeout, not before",
    requirements=("RWS-LIMIT-4", "RWS-ERR-6"),
    drives="a connection kept busy with a message at half the timeout, then left idle",
    needs_model=False,
    skip_if=_short_idle,
)
async def idle_timeout(ctx: ScenarioContext) -> None:
    limit = _idle_limit(ctx.config)
    assert limit is not None
    idle, url = limit
    conn = await ctx.connect(url=url)
    await trio.sleep(idle * 0.6)
    await ctx.request(conn, ctx.create("hi", generate=False))
    activity = trio.current_time()
    await trio.sleep(idle * 0.6)
    ctx.expect("RWS-LIMIT-4", not conn.closed.is_set(), "closed before the idle timeout")
    with trio.move_on_at(activity + idle + ctx.config.timeout / 2):
        await conn.closed.wait()
    ctx.expect("RWS-LIMIT-4", conn.closed.is_set(), "not closed after the idle timeout")
    if conn.closed.is_set():
        ctx.expect("RWS-ERR-6", conn.close_code == 1001, f"close code {conn.close_code}")


# RWS-LIMIT-3, RWS-LIMIT-8 (SHOULD): the declared connection age.
@scenario(
    "limits.declared-connection-age",
    "the declared (or advertised) max-connection-age is 60 minutes, at least 10",
    requirements=("RWS-LIMIT-3", "RWS-LIMIT-8"),
    drives="one upgrade; reads the responses-ws-limits header or the declared parameter",
    needs_model=False,
)
async def declared_age(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    advertised: dict[str, str] = {}
    header = next(
        (v for k, v in conn.response_headers.items() if k.lower() == "responses-ws-limits"), ""
    )
    for pair in header.split(","):
        name, _, raw = pair.strip().partition("=")
        if name:
            advertised[name.strip()] = raw.strip()
    ctx.note("advertised_limits", advertised)
    value: str | None = advertised.get("max-connection-age")
    if value is None:
        value = ctx.config.parameter("max-connection-age")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        seconds = None
    ctx.expect(
        "RWS-LIMIT-3", seconds is not None and seconds >= 600, f"max-connection-age {value!r}"
    )
    ctx.expect("RWS-LIMIT-8", seconds == 3600, f"max-connection-age {value!r}, expected 3600")


# RWS-LIMIT-6: input the server cannot process harms nothing. Runs with any model: the
# outcomes (runs, no close) are what is judged.
@scenario(
    "limits.deeply-nested-input",
    "a deeply nested request harms neither the server, other connections nor the cache",
    requirements=("RWS-LIMIT-6",),
    deliberate=("RWS-TRANS-6",),
    drives="run 1 store:false on c1; c2 open; c1 sends input nested 500 and 20000 levels; "
    "continue run 1 on c1; a run on c2",
    needs_model=False,
)
async def deep_input(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    other = await ctx.connect()
    first = await setup_run(
        ctx, conn, "rws:text length=10", "Say hello in five words.", store=False
    )
    # 500 levels parse with any JSON library but exceed what a naive recursive walk of the
    # input tolerates; 20000 levels defeat recursive parsers themselves.
    answers: list[str | None] = []
    for depth in (500, 20000):
        text = (
            '{"type":"response.create","model":'
            + f'"{ctx.config.model}","input":'
            + "[" * depth
            + "]" * depth
            + "}"
        )
        since = len(conn.messages)
        await conn.send_text(text, note=f"input nested {depth} levels")
        answer = await conn.expect_nothing_during(
            lambda m: m.event is not None or m.kind == "close", ctx.config.timeout, since=since
        )
        answers.append((answer.type or answer.kind) if answer else None)
        if conn.closed.is_set():
            break
    ctx.note("deep_input_answers", answers)
    ctx.resync(conn)
    sent = (
        "c1 sent response.create messages whose input was nested 500 and 20000 levels deep "
        f"(answered: {answers})"
    )
    ctx.expect(
        "RWS-LIMIT-6",
        not conn.closed.is_set(),
        f"{sent}; the connection closed after the deep input (code {conn.close_code})",
    )
    if not conn.closed.is_set():
        follow = await ctx.request(
            conn,
            turn(
                ctx,
                "rws:text length=5",
                "Now say goodbye in five words.",
                store=False,
                previous_response_id=first.response_id,
            ),
            what="continuing after the deep input",
            requirement="RWS-LIMIT-6",
        )
        expect_served(
            ctx,
            follow,
            "RWS-LIMIT-6",
            what=f"{sent}; then continuing response {first.response_id} (store:false, cached "
            "on c1) on c1",
        )
    run = await ctx.request(
        other,
        turn(ctx, "rws:text length=5", "Say hello in three words."),
        what="the other connection",
        requirement="RWS-LIMIT-6",
    )
    expect_served(ctx, run, "RWS-LIMIT-6", what=f"{sent}; then a new request on c2")


# What the any-model path of limits.client-close-stops-runs asks for: an answer long enough
# that a real model is still generating it when the client closes the connection.
_LONG_ANSWER = (
    "Write a detailed story of at least 1500 words about a lighthouse keeper who finds a "
    "message in a bottle."
)
_LONG_ANSWER_TOKENS = 4096


def _terminal_of(response_id: str | None) -> Callable[[Message], bool]:
    """A message predicate: the terminal event of the response ``response_id``."""

    def predicate(message: Message) -> bool:
        event = message.event
        response = event.get("response") if event is not None else None
        return (
            message.type in TERMINAL_TYPES
            and isinstance(response, Mapping)
            and response.get("id") == response_id
        )

    return predicate


# RWS-LIMIT-7, RWS-LIMIT-10: closing the connection stops its runs; they are not continuable.
@scenario(
    "limits.client-close-stops-runs",
    "a run whose connection the client closed is stopped and cannot be continued",
    requirements=("RWS-LIMIT-7", "RWS-LIMIT-10"),
    drives="a slow store:true run; close after response.created; wait; continue it on c2 "
    "(another model: a long answer, closed when no terminal event came within the quiet "
    "period after response.created)",
    needs_model=False,
)
async def client_close(ctx: ScenarioContext) -> None:
    scripted = ctx.config.scripted
    conn = await ctx.connect()
    if scripted:
        request = ctx.create("rws:delay ms=50\nrws:text length=40 chunks=10", store=True)
    else:
        request = ctx.create(_LONG_ANSWER, store=True, max_output_tokens=_LONG_ANSWER_TOKENS)
    await conn.send_json(request)
    created = await conn.expect_within(
        lambda m: m.type == "response.created", ctx.config.timeout, what="response.created"
    )
    response = (created.event or {}).get("response")
    target = response.get("id") if isinstance(response, Mapping) else None
    if not scripted:
        # Any model: the run must still be in flight when the client closes. A run that ends
        # within the quiet period after response.created is too short for this check.
        ended = await conn.expect_nothing_during(
            _terminal_of(target), ctx.config.quiet_period, since=created.index
        )
        if ended is not None:
            reason = (
                f"not reached with model {ctx.config.model!r}: the run {target} asked for a long "
                f"answer ended ({ended.type}) within {ctx.config.quiet_period:g} s of its "
                "response.created, before the client could close the connection with the run "
                "in flight"
            )
            for requirement in ("RWS-LIMIT-7", "RWS-LIMIT-10"):
                ctx.not_applicable(requirement, reason)
            return
    await conn.close()
    if scripted:
        # Long enough for the whole run (18 events, 50 ms apart) to have finished had it
        # gone on.
        await trio.sleep(1.2 + ctx.config.quiet_period)
    else:
        # As long as the suite waits for anything a server owes: a run not stopped that ends
        # within it is stored and found below.
        await trio.sleep(ctx.config.timeout)
    other = await ctx.connect()
    outcome = await ctx.request(
        other,
        turn(ctx, "rws:text length=4", "Continue the story.", previous_response_id=target),
        what="continuation",
    )
    sent = (
        f"response {target} (store:true) sent response.created on c1 and the client closed c1 "
        "before its terminal event; continuing it on a new connection c2 with the same API key"
    )
    held = expect_error(
        ctx,
        outcome,
        "previous_response_not_found",
        "RWS-LIMIT-10",
        what=sent,
        param="previous_response_id",
    )
    ctx.expect(
        "RWS-LIMIT-7",
        held,
        f"{sent}: the run went on after its connection closed: {describe(outcome)}",
    )


# The number of events of 'rws:text length=30 chunks=10' (response.created, in_progress, the
# item and part added, 10 deltas, text, part and item done, the terminal event).
_SLOW_TEXT = "rws:text length=30 chunks=10"
_SLOW_TEXT_EVENTS = 18


def _run_lasting(seconds: float) -> str:
    """A conformance-1 prompt whose run lasts at least ``seconds`` after response.created."""
    delay_ms = math.ceil(seconds * 1000 / (_SLOW_TEXT_EVENTS - 1))
    return f"rws:delay ms={delay_ms}\n{_SLOW_TEXT}"


def _first_run_ended(conn: Connection, lane: str | None) -> bool:
    found = outcomes(conn.events, lane)
    return bool(found) and found[0].complete


# RWS-EVENT-5, RWS-LIMIT-1: the websocket_connection_limit_reached error is connection-scoped,
# also when it answers a request sent on a named lane: it carries no stream_id.
@scenario(
    "limits.connection-age-named-lane",
    "the age-limit error answering a request on a named lane carries no stream_id",
    requirements=("RWS-EVENT-5", "RWS-LIMIT-1"),
    profile="multiplex",
    extra_profiles=("conformance-model",),
    drives="a slow run on stream_id 'a' from the upgrade to past the test age limit; a request "
    "on stream_id 'b' just after the limit",
    skip_if=_short_age,
)
async def connection_age_named_lane(ctx: ScenarioContext) -> None:
    age = ctx.config.test_connection_age
    assert age is not None
    url = ctx.config.age_limit_url
    conn = await ctx.connect(url=responses_url(url) if url else None)
    opened = trio.current_time()
    lead = min(1.0, age / 3)
    # One run from the upgrade to past the limit: it keeps the connection open after the limit
    # (RWS-LIMIT-2) and never idle (RWS-LIMIT-4), whatever idle-timeout the server has.
    await ctx.send_create(
        conn, ctx.create(_run_lasting(age + lead), stream_id="a", store=False), note="slow run"
    )
    await trio.sleep_until(opened + age + lead / 2)
    if _first_run_ended(conn, "a") or conn.closed.is_set():
        raise PrerequisiteFailed(
            f"the run on lane 'a' (asked to last {age + lead:g} s) was over, or the connection "
            f"closed (code {conn.close_code}), before the request after the age limit of "
            f"{age:g} s could be sent"
        )
    since = len(conn.messages)
    await conn.send_json(
        ctx.create("rws:text length=4", stream_id="b", store=False),
        note="on lane b, after the age limit",
    )
    try:
        # The error may wait for the end of the run on lane a (RWS-LIMIT-11).
        answer = await conn.expect_within(
            is_error("websocket_connection_limit_reached"),
            ctx.config.timeout + lead,
            since=since,
            what="websocket_connection_limit_reached",
        )
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail(
            "RWS-LIMIT-1",
            f"a request on stream_id 'b' sent {lead / 2:g} s after the age limit of {age:g} s "
            f"got no websocket_connection_limit_reached: {exc}",
        ) from exc
    event = answer.event or {}
    ctx.expect(
        "RWS-EVENT-5",
        "stream_id" not in event,
        f"a request on stream_id 'b' sent after the age limit was answered with "
        f"websocket_connection_limit_reached carrying stream_id {event.get('stream_id')!r}: "
        "a connection-scoped error carries no stream_id",
    )
    status = error_registry()["websocket_connection_limit_reached"].get("status")
    ctx.expect(
        "RWS-LIMIT-1",
        event.get("status") == status,
        f"websocket_connection_limit_reached with status {event.get('status')!r}, expected "
        f"{status}",
    )
    started = [m.index for m in conn.messages[since:] if m.type == "response.created"]
    ctx.expect(
        "RWS-LIMIT-1",
        not started,
        f"a run started after the age limit (response.created at messages {started})",
    )
    # Let the server end the connection (RWS-LIMIT-2), so that the transcript is complete.
    with trio.move_on_after(ctx.config.timeout):
        await conn.closed.wait()


# RWS-LIMIT-4: time with a run in flight is not idle time. A run lasting twice the
# idle-timeout keeps the connection open, and the idle time counts from the run's end.
@scenario(
    "limits.idle-timeout-run-in-flight",
    "a run longer than the idle-timeout keeps the connection open; idle time counts from its end",
    requirements=("RWS-LIMIT-4",),
    drives="right after the upgrade, one slow run lasting twice the test idle-timeout; then "
    "the connection left idle",
    skip_if=_short_idle,
)
async def idle_run_in_flight(ctx: ScenarioContext) -> None:
    limit = _idle_limit(ctx.config)
    assert limit is not None
    idle, url = limit
    conn = await ctx.connect(url=url)
    prompt = _run_lasting(2 * idle)
    sent = trio.current_time()
    index = await ctx.send_create(conn, ctx.create(prompt, store=False), note="slow run")
    try:
        await conn.wait_until(
            lambda: _first_run_ended(conn, None),
            2 * idle + ctx.config.timeout,
            what="the end of the slow run",
        )
    except ConnectionClosedError:
        seen = outcomes(conn.events, None)
        events = len(seen[0].events) if seen else 0
        raise ctx.fail(
            "RWS-LIMIT-4",
            f"the server closed the connection (code {conn.close_code}) "
            f"{trio.current_time() - sent:.2f} s after the request {prompt!r}, {events} events "
            f"into its run of about {2 * idle:g} s: with an idle-timeout of {idle:g} s, time "
            "with a run in flight is not idle",
        ) from None
    except ExpectationTimeout:
        pass  # reported by ctx.outcome below
    run = await ctx.outcome(conn, index, what="the slow run")
    expect_run_status(
        ctx, run, "completed", "RWS-LIMIT-4", what="the run longer than the idle time"
    )
    ended = trio.current_time()
    # Idle time counts from the end of the run, not from the request sent 2 x idle earlier...
    with trio.move_on_after(idle / 2):
        await conn.closed.wait()
    ctx.expect(
        "RWS-LIMIT-4",
        not conn.closed.is_set(),
        f"the server closed the connection (code {conn.close_code}) "
        f"{trio.current_time() - ended:.2f} s after the run's terminal event, before its "
        f"idle-timeout of {idle:g} s: idle time counts from the end of the run",
    )
    if conn.closed.is_set():
        return
    # ...and the idle-timeout then ends the connection with 1001.
    with trio.move_on_at(ended + idle + ctx.config.timeout / 2):
        await conn.closed.wait()
    ctx.expect(
        "RWS-LIMIT-4",
        conn.close_code == 1001,
        f"{trio.current_time() - ended:.2f} s after the run's terminal event (idle-timeout "
        f"{idle:g} s) the connection was "
        + (f"closed with code {conn.close_code}" if conn.closed.is_set() else "still open"),
    )
