"""Scenarios of the ``steering`` profile: accepting input, the successor, pending, failure.

Each scenario starts a run that lasts (``rws:delay`` with ``conformance-1``; a long answer
with another model), steers it after its ``response.created`` and reads what follows from the
connection's messages: a successor answers no ``response.create``, so it is found by its
``previous_response_id``, not by the request outcomes of the harness. The transcript checker
judges every steering event as it comes (RWS-STEER-2/3/4/6/10, and RWS-SEQ-5 on the way); the
scenarios add
what a transcript alone cannot say - that an answer came at all, and with which code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.config import SuiteConfig
from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import TERMINAL_TYPES
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection, ConnectionClosedError, ExpectationTimeout, Message
from conformance.scenarios._common import turn
from conformance.scenarios._inflight import ATTEMPTS, long_turn

__all__: list[str] = []

# A target that lasts: three items, each event 40 ms after the one before (conformance-1), or
# a long answer (another model: steered after its response.created, likely still running).
_SLOW_TARGET = (
    "rws:delay ms=40\nrws:text length=30 chunks=3\nrws:text length=30 chunks=3\n"
    "rws:text length=30 chunks=3"
)
_LANE = "steer"


def _steering_reason(config: SuiteConfig) -> str | None:
    if "steering" not in config.profiles:
        return "the server does not declare the steering profile"
    return None


def _response(message: Message) -> Mapping[str, Any]:
    response = (message.event or {}).get("response")
    return response if isinstance(response, Mapping) else {}


async def _started(ctx: ScenarioContext, conn: Connection, event: dict[str, Any]) -> str:
    """Send ``event`` and return the id of its run, once its response.created is here."""
    since = len(conn.messages)
    await ctx.send_create(conn, event)
    first = await conn.expect_within(
        lambda m: m.type == "response.created",
        ctx.config.timeout,
        since=since,
        what="response.created of the run to steer",
    )
    rid = _response(first).get("id")
    if not isinstance(rid, str):
        raise ctx.fail("RWS-EVENT-6", f"response.created without a response id: {first.event}")
    return rid


async def _reply(ctx: ScenarioContext, conn: Connection, since: int, what: str) -> Message:
    """The reply to the response.steer sent at message ``since`` (RWS-STEER-2)."""

    def reply(message: Message) -> bool:
        steer = (message.event or {}).get("steer")
        return message.type == "response.steer.accepted" or (
            message.type == "response.steer.failed"
            and isinstance(steer, Mapping)
            and "id" not in steer
        )

    try:
        return await conn.expect_within(reply, ctx.config.timeout, since=since, what=what)
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail(
            "RWS-STEER-2", f"{what}: no response.steer.accepted or failed: {exc}"
        ) from exc


async def _steer(
    ctx: ScenarioContext, conn: Connection, target: str, steer_input: Any, **extra: Any
) -> Message:
    since = len(conn.messages)
    await conn.send_json(
        {"type": "response.steer", "previous_response_id": target, "input": steer_input, **extra}
    )
    return await _reply(ctx, conn, since, f"a response.steer targeting {target}")


async def _ended(ctx: ScenarioContext, conn: Connection, rid: str, what: str) -> Message:
    """The terminal event of the run of response ``rid``."""

    def terminal(message: Message) -> bool:
        return message.type in TERMINAL_TYPES and _response(message).get("id") == rid

    try:
        return await conn.expect_within(terminal, ctx.config.timeout, what=what)
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail("RWS-ORDER-2", f"{what}: no terminal event: {exc}") from exc


def _code(message: Message) -> Any:
    error = (message.event or {}).get("error")
    return error.get("code") if isinstance(error, Mapping) else None


# RWS-STEER-2/3/4: accepted input, the target stopped or completed, the successor first on
# the lane. Two submissions, and a request queued on the lane behind the target.
@scenario(
    "steering.successor",
    "accepted steering input is committed by a successor that continues the target first on "
    "its lane",
    requirements=("RWS-STEER-2", "RWS-STEER-3", "RWS-STEER-4"),
    drives="a slow run on a named lane (another model: a long answer, asked again up to 3 "
    "times when it ended before the steers); two response.steer after its response.created "
    "(the second asks conformance-1 for rws:context); a response.create queued on the lane",
    profile="steering",
    needs_model=False,
    skip_if=_steering_reason,
)
async def successor(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    # Another model may finish before the steers arrive (both refused): ask again, up to
    # ATTEMPTS times, for a long answer.
    attempts = 1 if ctx.config.scripted else ATTEMPTS
    for attempt in range(attempts):
        target = await _started(
            ctx,
            conn,
            long_turn(
                ctx,
                _SLOW_TARGET,
                attempt,
                stream_id=_LANE,
                store=False,
                metadata={"rws_role": "target"},
            ),
        )
        first = await _steer(ctx, conn, target, "Please also mention the weather.")
        second = await _steer(
            ctx, conn, target, "rws:context" if ctx.config.scripted else "Be brief."
        )
        accepted = [m for m in (first, second) if m.type == "response.steer.accepted"]
        ctx.note("replies", [m.type for m in (first, second)])
        if accepted or attempt == attempts - 1:
            break
        await _ended(ctx, conn, target, "the run the steers came too late for")
    # A request queued behind the target: the successor must run before it (RWS-STEER-4).
    queued_since = len(conn.messages)
    # Its metadata tells its run from the successor's (which echoes the target's settings).
    await ctx.send_create(
        conn,
        turn(ctx, "rws:text length=5", "Say hi.", stream_id=_LANE, metadata={"rws_role": "queued"}),
    )
    end = await _ended(ctx, conn, target, "the steered run")
    if ctx.config.scripted and accepted:
        # A.6: conformance-1 stops at its first safe point (before its next item) after the
        # acceptance; accepted while its last item streamed, it has none left and completes.
        details = _response(end).get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        items = [
            n
            for n, m in enumerate(conn.messages)
            if m.type == "response.output_item.added"
            and (m.event or {}).get("stream_id") == _LANE
            and n < conn.messages.index(end)
        ]
        accepted_at = conn.messages.index(accepted[0])
        last_safe_point_passed = bool(items) and items[-1] < accepted_at and len(items) == 3
        ctx.expect(
            "RWS-STEER-4",
            (end.type == "response.incomplete" and reason == "steered")
            or (end.type == "response.completed" and last_safe_point_passed),
            f"the conformance-1 run steered after {len(items)} of its 3 items had begun "
            f"ended {end.type} (reason {reason!r}), expected response.incomplete with reason "
            "'steered' at its next safe point",
        )
    if not accepted:
        ctx.not_applicable("RWS-STEER-4", "the server refused both steering inputs")
        return

    def successor_created(message: Message) -> bool:
        return (
            message.type == "response.created"
            and _response(message).get("previous_response_id") == target
        )

    try:
        created = await conn.expect_within(
            successor_created, ctx.config.timeout, what="the successor's response.created"
        )
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        given_back = [
            m
            for m in conn.messages
            if m.type == "response.steer.failed" and "id" in ((m.event or {}).get("steer") or {})
        ]
        if len(given_back) >= len(accepted):
            # RWS-STEER-8: the server may give the input back instead of committing it.
            ctx.note("given_back", [_code(m) for m in given_back])
            return
        raise ctx.fail(
            "RWS-STEER-4",
            f"the steered run {target} ended {end.type}, and no successor (response.created "
            f"with previous_response_id {target}) followed: {exc}",
        ) from exc
    lane = (created.event or {}).get("stream_id")
    ctx.expect(
        "RWS-STEER-4",
        lane == _LANE,
        f"the successor of {target} ran on stream_id {lane!r}, not on the target's lane {_LANE!r}",
    )
    # A successor created before the queued request was even sent (a client slower than the
    # server, e.g. on a loaded machine) went before it by construction.
    created_early = any(m is created for m in conn.messages[:queued_since])
    order = [
        m
        for m in conn.messages[queued_since:]
        if m.type == "response.created" and (m.event or {}).get("stream_id") == _LANE
    ]
    ctx.expect(
        "RWS-STEER-4",
        created_early or (bool(order) and order[0] is created),
        f"the request queued on lane {_LANE!r} ran before the successor of {target}",
    )
    successor_id = _response(created).get("id")
    if isinstance(successor_id, str):
        await _ended(ctx, conn, successor_id, "the successor run")


# RWS-STEER-5: what a steer may carry; RWS-STEER-2: refusals carry no id.
@scenario(
    "steering.invalid-input",
    "response.steer with stream_id, a tool output or an unknown field fails with invalid_input",
    requirements=("RWS-STEER-5", "RWS-STEER-2"),
    drives="a slow run; three malformed response.steer targeting it (stream_id, a "
    "function_call_output item, an extra field), each answered on its own",
    profile="steering",
    needs_model=False,
    skip_if=_steering_reason,
    # The stream_id a client must not send (RWS-STEER-9) is the point of the first case.
    deliberate=("RWS-STEER-9",),
)
async def invalid_input(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    target = await _started(ctx, conn, long_turn(ctx, _SLOW_TARGET, store=False))
    cases: list[tuple[str, Any, dict[str, Any]]] = [
        ("with stream_id", "Use metric units.", {"stream_id": "other"}),
        (
            "with a function_call_output item",
            [{"type": "function_call_output", "call_id": "call_x", "output": "42"}],
            {},
        ),
        ("with an unknown field", "Use metric units.", {"model": "other"}),
    ]
    for what, steer_input, extra in cases:
        reply = await _steer(ctx, conn, target, steer_input, **extra)
        code = _code(reply)
        ctx.expect(
            "RWS-STEER-5",
            reply.type == "response.steer.failed" and code == "invalid_input",
            f"a response.steer {what} was answered {reply.type}"
            + (f" with code {code!r}" if code else "")
            + ", expected response.steer.failed with code 'invalid_input'",
        )
    await _ended(ctx, conn, target, "the target run")


# RWS-STEER-6: the target completes with a tool call; the input waits for its output.
@scenario(
    "steering.pending",
    "steering input that arrives while a tool call is streamed is reported pending after the "
    "target completes, then committed by the request continuing it",
    requirements=("RWS-STEER-6", "RWS-STEER-4"),
    drives="a slow run ending in a function call; response.steer (rws:context) after the "
    "call's output_item.added; the function_call_output continuing the target",
    profile="steering",
    extra_profiles=("conformance-model",),
    skip_if=_steering_reason,
)
async def pending(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    since = len(conn.messages)
    target = await _started(
        ctx, conn, ctx.create("rws:delay ms=60\nrws:call name=lookup arguments={}", store=False)
    )
    await conn.expect_within(
        lambda m: m.type == "response.output_item.added",
        ctx.config.timeout,
        since=since,
        what="the call's response.output_item.added",
    )
    reply = await _steer(ctx, conn, target, "rws:context")
    if reply.type != "response.steer.accepted":
        raise ctx.fail("RWS-STEER-6", f"the steer was refused ({_code(reply)!r}): nothing pends")
    end = await _ended(ctx, conn, target, "the target run")
    steer_id = ((reply.event or {}).get("steer") or {}).get("id")

    def waiting(message: Message) -> bool:
        steer = (message.event or {}).get("steer")
        return (
            message.type in ("response.steer.pending", "response.steer.failed")
            and isinstance(steer, Mapping)
            and steer.get("id") == steer_id
        )

    try:
        answer = await conn.expect_within(waiting, ctx.config.timeout, what="pending")
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail(
            "RWS-STEER-6",
            f"the target completed ({end.type}) with a function call and steering input "
            f"accepted; no response.steer.pending (nor failed) for steer {steer_id}: {exc}",
        ) from exc
    if answer.type != "response.steer.pending":
        ctx.note("given_back", _code(answer))
        return
    stubs = (answer.event or {}).get("required_input") or []
    calls = [
        item
        for item in _response(end).get("output") or []
        if isinstance(item, Mapping) and item.get("type") == "function_call"
    ]
    ctx.expect(
        "RWS-STEER-6",
        bool(calls) and any(s.get("call_id") == calls[0].get("call_id") for s in stubs),
        f"response.steer.pending names required_input {stubs!r}, not the call "
        f"{calls[0].get('call_id') if calls else None!r} the target waits for",
    )
    call_id = calls[0].get("call_id") if calls else "call_unknown"
    # The continuation commits the pending input, before its own (spec 9.3): the checker
    # judges the rws:context reply against that context.
    outcome = await ctx.request(
        conn,
        ctx.create(
            [{"type": "function_call_output", "call_id": call_id, "output": "42"}],
            previous_response_id=target,
            store=False,
        ),
        what="the continuation with the tool output",
    )
    ctx.expect(
        "RWS-STEER-4",
        outcome.kind == "run",
        f"the request continuing the target was answered {outcome.describe()}",
    )


# RWS-STEER-10: a target that fails gives its accepted input back.
@scenario(
    "steering.target-failed",
    "accepted steering input of a target that fails comes back with successor_creation_failed",
    requirements=("RWS-STEER-10",),
    drives="a slow run that fails after response.in_progress (rws:fail after=2); "
    "response.steer after its response.created",
    profile="steering",
    extra_profiles=("conformance-model",),
    skip_if=_steering_reason,
)
async def target_failed(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    target = await _started(
        ctx, conn, ctx.create("rws:delay ms=60\nrws:text length=10\nrws:fail after=2", store=False)
    )
    reply = await _steer(ctx, conn, target, "Use metric units.")
    if reply.type != "response.steer.accepted":
        raise ctx.fail("RWS-STEER-10", f"the steer was refused ({_code(reply)!r})")
    steer_id = ((reply.event or {}).get("steer") or {}).get("id")
    end = await _ended(ctx, conn, target, "the target run")
    if end.type != "response.failed":
        raise ctx.fail(
            "RWS-MODEL-1", f"rws:fail after=2 ended the target {end.type}, not response.failed"
        )

    def given_back(message: Message) -> bool:
        steer = (message.event or {}).get("steer")
        return (
            message.type == "response.steer.failed"
            and isinstance(steer, Mapping)
            and steer.get("id") == steer_id
        )

    try:
        answer = await conn.expect_within(given_back, ctx.config.timeout, what="steer.failed")
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail(
            "RWS-STEER-10",
            f"the target failed with steering input {steer_id} accepted; no "
            f"response.steer.failed with that id followed: {exc}",
        ) from exc
    ctx.expect(
        "RWS-STEER-10",
        _code(answer) == "successor_creation_failed",
        f"response.steer.failed for {steer_id} carries code {_code(answer)!r}, expected "
        "'successor_creation_failed'",
    )
