"""Scenarios of limits and robustness (RWS-LIMIT-*, RWS-ERR-6).

The checks that need runs in flight at the age limit or across the idle-timeout are in
:mod:`.limits_inflight`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import trio

from conformance.harness.config import SuiteConfig, responses_url
from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import TERMINAL_TYPES
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection, Message
from conformance.scenarios._common import (
    describe,
    expect_error,
    expect_served,
    follow_up,
    not_reached,
    setup_run,
    turn,
)
from conformance.scenarios._inflight import ATTEMPTS, long_turn

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
        follow = await follow_up(
            ctx,
            conn,
            first,
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


# What the any-model path of limits.client-close-stops-runs asks for: answers long enough
# that a real model is still generating them when the client closes the connection (the run
# is not awaited, so the cap can be high).
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


async def _run_in_flight(ctx: ScenarioContext) -> tuple[Connection, str | None, list[str]]:
    """Start a store:true run that is still in flight a quiet period after response.created.

    Any model: a long answer, asked for again on a new connection (up to ATTEMPTS times) while
    the run ended within the quiet period. Returns the connection, the run's response id
    (None: not reached) and what each attempt saw.
    """
    readings: list[str] = []
    for attempt in range(1 if ctx.config.scripted else ATTEMPTS):
        conn = await ctx.connect()
        fields: dict[str, object] = {"store": True}
        if not ctx.config.scripted:
            fields["max_output_tokens"] = _LONG_ANSWER_TOKENS
        directive = "rws:delay ms=50\nrws:text length=40 chunks=10"
        await conn.send_json(long_turn(ctx, directive, attempt, **fields))
        created = await conn.expect_within(
            lambda m: m.type == "response.created", ctx.config.timeout, what="response.created"
        )
        response = (created.event or {}).get("response")
        target = response.get("id") if isinstance(response, Mapping) else None
        if ctx.config.scripted:
            return conn, target, readings
        # Any model: the run must still be in flight when the client closes. A run that ends
        # within the quiet period after response.created is too short for this check.
        ended = await conn.expect_nothing_during(
            _terminal_of(target), ctx.config.quiet_period, since=created.index
        )
        if ended is None:
            return conn, target, readings
        readings.append(
            f"the run {target} asked for a long answer ended ({ended.type}) within "
            f"{ctx.config.quiet_period:g} s of its response.created"
        )
        await conn.close()
    return conn, None, readings


# RWS-LIMIT-7, RWS-LIMIT-10: closing the connection stops its runs; they are not continuable.
@scenario(
    "limits.client-close-stops-runs",
    "a run whose connection the client closed is stopped and cannot be continued",
    requirements=("RWS-LIMIT-7", "RWS-LIMIT-10"),
    drives="a slow store:true run; close after response.created; wait; continue it on c2 "
    "(another model: a long answer, closed when no terminal event came within the quiet "
    "period after response.created; asked again, up to 3 times, when one came)",
    needs_model=False,
)
async def client_close(ctx: ScenarioContext) -> None:
    conn, target, readings = await _run_in_flight(ctx)
    if readings:
        ctx.note("attempts", readings)
    if target is None:
        why = (
            f"in {len(readings)} attempts {readings[-1]}, before the client could close the "
            "connection with the run in flight"
        )
        for requirement in ("RWS-LIMIT-7", "RWS-LIMIT-10"):
            not_reached(ctx, requirement, why)
        return
    await conn.close()
    if ctx.config.scripted:
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
        f"response {target} (store:true) sent response.created and the client closed its "
        "connection before its terminal event; continuing it on a new connection with the "
        "same API key"
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
