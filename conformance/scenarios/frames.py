"""Scenarios of messages that are not valid client events (RWS-CREATE-9/10/11/21, RWS-ERR-3).

Each bad message is sent in the middle of a session: after a completed turn whose entry is
cached on the connection. It must get the specification's answer, the connection must stay
open, and the cached turn must still be continued (a frame-scoped error evicts nothing).
The turns run with any model.
"""

from __future__ import annotations

import json

from conformance.harness.context import PrerequisiteFailed, ScenarioContext
from conformance.harness.lanes import Outcome, error_code, outcomes
from conformance.harness.registry import scenario
from conformance.harness.wire import Connection, ConnectionClosedError, ExpectationTimeout, Message
from conformance.scenarios._common import (
    describe,
    expect_served,
    follow_up,
    is_error,
    quiet_after,
    setup_run,
    short_answer,
)

__all__: list[str] = []


# Item 4 of the any-model work: every bad message is sent in the middle of a session, after
# a completed turn whose entry is cached, so that "the connection stays usable" includes its
# cache. The turn and its continuation run with any model (ordinary prompts, capped).
_TURN = ("rws:text length=10", "Say hello in five words.")


async def _cached_turn(ctx: ScenarioContext) -> tuple[Connection, Outcome]:
    """Open a connection and complete a store:false turn on it (its lane's cached entry)."""
    conn = await ctx.connect()
    first = await setup_run(
        ctx,
        conn,
        *_TURN,
        store=False,
        what="turn 1 (store:false, cached on this connection)",
        **short_answer(ctx),
    )
    return conn, first


async def _expect_frame_error(
    ctx: ScenarioContext,
    conn: Connection,
    send: str | bytes,
    code: str,
    requirement: str,
    what: str,
) -> None:
    since = len(conn.messages)
    if isinstance(send, bytes):
        await conn.send_binary(send, note=what)
    else:
        await conn.send_text(send, note=what)
    try:
        await conn.expect_within(is_error(code), ctx.config.timeout, since=since, what=what)
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail(requirement, f"{what}: expected the error {code!r}; {exc}") from exc
    ctx.expect(requirement, True, "")


async def _entry_still_continues(
    ctx: ScenarioContext,
    conn: Connection,
    first: Outcome,
    sent: str,
    *,
    kept_open: tuple[str, ...],
    served: tuple[str, ...] = ("RWS-ERR-3",),
) -> None:
    """After the bad messages, the connection is open and turn 1 is still continued.

    RWS-ERR-3: after a frame- or request-scoped error the connection stays open and usable,
    with its entries as RWS-CACHE-5 leaves them; RWS-CACHE-5 evicts only on a failed
    continuation of the entry, and none of the bad messages continued it, so the entry is
    still there. ``kept_open``: the requirements that ask for the open connection;
    ``served``: those that ask for the entry to be continued.
    """
    if conn.closed.is_set():
        lost = (
            f"{sent}; then the server closed the connection (code {conn.close_code}), losing "
            f"response {first.response_id} (store:false), which was cached on it"
        )
        for requirement in dict.fromkeys((*kept_open, *served)):
            ctx.expect(requirement, False, lost)
        return
    for requirement in kept_open:
        ctx.expect(requirement, True, "")
    # A bad message a server answered as a request (with a request-scoped error) is an
    # outcome of the lane: count what came so far before asking.
    ctx.resync(conn)
    follow = await follow_up(
        ctx,
        conn,
        first,
        what="continuing turn 1 after the bad message(s)",
        requirement=served[0],
    )
    for requirement in served:
        expect_served(
            ctx,
            follow,
            requirement,
            what=f"response {first.response_id} (store:false) ended {first.status} and is "
            f"cached on this connection; {sent}; then a continuation of {first.response_id} on "
            "the same connection",
        )


# RWS-CREATE-10: binary message -> unsupported_frame_type and the connection stays open, or
# the RFC 6455 close 1003; RWS-CREATE-22 (SHOULD) prefers the error, which keeps the cache.
@scenario(
    "frames.binary-message-error",
    "a binary message is answered with unsupported_frame_type and the connection stays usable "
    "(or closed with 1003)",
    requirements=("RWS-CREATE-10", "RWS-CREATE-22", "RWS-ERR-3"),
    deliberate=("RWS-TRANS-6",),
    drives="turn 1 store:false; one binary message; continue turn 1",
    needs_model=False,
)
async def binary(ctx: ScenarioContext) -> None:
    conn, first = await _cached_turn(ctx)
    payload = b'{"type":"response.create"}'
    since = len(conn.messages)
    await conn.send_binary(payload, note="binary message")

    def answered(message: Message) -> bool:
        return message.kind == "close" or is_error("unsupported_frame_type")(message)

    try:
        answer = await conn.expect_within(
            answered, ctx.config.timeout, since=since, what="the answer to a binary message"
        )
    except (ExpectationTimeout, ConnectionClosedError) as exc:
        raise ctx.fail(
            "RWS-CREATE-10", f"binary message: expected the error unsupported_frame_type; {exc}"
        ) from exc
    if answer.kind == "close":
        ctx.note("binary_message_answer", f"close {answer.close_code}")
        ctx.expect(
            "RWS-CREATE-10",
            answer.close_code == 1003,
            f"binary message: expected the error unsupported_frame_type or the close 1003, got "
            f"the close {answer.close_code}",
        )
        ctx.expect(
            "RWS-CREATE-22",
            False,
            "binary message: the server closed the connection with 1003 (permitted) instead of "
            "answering with the error unsupported_frame_type, losing the connection's cache",
        )
        ctx.not_applicable("RWS-ERR-3", "the server closed the connection (1003) instead")
        return
    ctx.expect("RWS-CREATE-10", True, "")
    ctx.expect("RWS-CREATE-22", True, "")
    await _entry_still_continues(
        ctx,
        conn,
        first,
        f"a binary message of {len(payload)} bytes was answered with unsupported_frame_type",
        kept_open=("RWS-CREATE-10", "RWS-ERR-3"),
    )


# RWS-CREATE-9: not JSON, and JSON that is not an object -> invalid_json.
@scenario(
    "frames.invalid-json-error",
    "text that is not a JSON object is answered with invalid_json; the connection and its "
    "cached entry stay usable",
    requirements=("RWS-CREATE-9", "RWS-ERR-3"),
    deliberate=("RWS-TRANS-6",),
    drives="turn 1 store:false; the text 'not json {'; the text '[1, 2]'; continue turn 1",
    needs_model=False,
)
async def invalid_json(ctx: ScenarioContext) -> None:
    conn, first = await _cached_turn(ctx)
    await _expect_frame_error(
        ctx, conn, "not json {", "invalid_json", "RWS-CREATE-9", "text not JSON"
    )
    await _expect_frame_error(ctx, conn, "[1, 2]", "invalid_json", "RWS-CREATE-9", "JSON array")
    await _entry_still_continues(
        ctx,
        conn,
        first,
        "the text 'not json {' and the JSON array '[1, 2]' were each answered with invalid_json",
        kept_open=("RWS-CREATE-9", "RWS-ERR-3"),
    )


# RWS-CREATE-11: unknown or missing type -> unknown_event_type.
@scenario(
    "frames.unknown-event-type",
    "an object with an unknown or missing type is answered with unknown_event_type; the "
    "connection and its cached entry stay usable",
    requirements=("RWS-CREATE-11", "RWS-ERR-3"),
    deliberate=("RWS-TRANS-6",),
    drives='turn 1 store:false; {"type": "response.bogus"}; {"model": "x"}; continue turn 1',
    needs_model=False,
)
async def unknown_type(ctx: ScenarioContext) -> None:
    conn, first = await _cached_turn(ctx)
    await _expect_frame_error(
        ctx,
        conn,
        '{"type":"response.bogus"}',
        "unknown_event_type",
        "RWS-CREATE-11",
        "unknown type",
    )
    await _expect_frame_error(
        ctx, conn, '{"model":"x"}', "unknown_event_type", "RWS-CREATE-11", "missing type"
    )
    await _entry_still_continues(
        ctx,
        conn,
        first,
        '{"type":"response.bogus"} and {"model":"x"} were each answered with unknown_event_type',
        kept_open=("RWS-CREATE-11", "RWS-ERR-3"),
    )


# Past RWS-CREATE-21's 128 levels, but within what any JSON parser reads.
_NESTED_DEPTH = 200


def _answer_text(answer: Message | None) -> str:
    """What answered the nested message, in words."""
    if answer is None:
        return "no answer"
    if answer.kind == "close":
        return f"the close {answer.close_code}"
    if answer.type == "error":
        return f"the error {error_code(answer.event or {})!r}"
    return "a run (response.created)"


# RWS-CREATE-21 (MAY): a message nested past 128 levels is answered invalid_json or as a
# refused request; RWS-LIMIT-6, RWS-ERR-3: either way the connection and its cached entry stay
# usable.
@scenario(
    "frames.deeply-nested-message",
    "a response.create nested 200 levels deep is answered with an error, and the connection "
    "and its cached entry stay usable",
    requirements=("RWS-CREATE-21", "RWS-LIMIT-6", "RWS-ERR-3"),
    drives="turn 1 store:false; a response.create whose input nests 200 arrays; continue turn 1",
    needs_model=False,
)
async def deeply_nested(ctx: ScenarioContext) -> None:
    conn, first = await _cached_turn(ctx)
    text = (
        '{"type":"response.create","model":'
        + json.dumps(ctx.config.model)
        + ',"input":'
        + "[" * _NESTED_DEPTH
        + "]" * _NESTED_DEPTH
        + "}"
    )
    what = f"a response.create whose input nests {_NESTED_DEPTH} arrays"
    since = len(conn.messages)
    await conn.send_text(text, note=what)

    def answered(message: Message) -> bool:
        return message.kind == "close" or message.type in ("error", "response.created")

    answer: Message | None
    try:
        answer = await conn.expect_within(
            answered, ctx.config.timeout, since=since, what=f"the answer to {what}"
        )
    except (ExpectationTimeout, ConnectionClosedError):
        answer = None
    if answer is not None and answer.type == "response.created":
        # Not refused: let the run end before going on.
        await ctx.outcome(conn, len(outcomes(conn.events, None)) - 1, what=what)
    got = _answer_text(answer)
    ctx.note("deeply_nested_answer", got)
    ctx.expect(
        "RWS-CREATE-21",
        answer is not None and answer.type == "error",
        f"{what}: expected the error invalid_json or a request-scoped error, got {got}",
    )
    # RWS-LIMIT-6: input the server cannot process ends neither the connection nor its
    # entries; RWS-ERR-3 asks the same after an error, when one answered the message.
    errored = answer is not None and answer.type == "error"
    if not errored:
        ctx.not_applicable("RWS-ERR-3", f"no error answered {what} ({got})")
    judged = ("RWS-LIMIT-6", "RWS-ERR-3") if errored else ("RWS-LIMIT-6",)
    await _entry_still_continues(
        ctx, conn, first, f"{what} got {got}", kept_open=judged, served=judged
    )


_MiB = 1024 * 1024
# The largest message the suite sends for RWS-TRANS-7: a larger declared size is tested here.
_LARGEST_SENT = 64 * _MiB


# RWS-TRANS-7: a message of exactly the declared max-message-size is accepted (the 1 MiB check
# says nothing about a server that refuses messages well below what it declares).
@scenario(
    "frames.message-at-declared-size",
    "a response.create of exactly the declared max-message-size is accepted",
    requirements=("RWS-TRANS-7",),
    drives="one generate:false response.create whose input pads it to max-message-size bytes "
    "(16 MiB when nothing is declared)",
    needs_model=False,
)
async def message_at_declared_size(ctx: ScenarioContext) -> None:
    declared = ctx.config.int_parameter("max-message-size")
    if declared is None:
        raise PrerequisiteFailed(
            f"the declared max-message-size {ctx.config.parameter('max-message-size')!r} is "
            "not a number of bytes"
        )
    ctx.expect(
        "RWS-TRANS-7",
        declared >= _MiB,
        f"the declared max-message-size {declared} is below 1 MiB ({_MiB} bytes)",
    )
    size = min(declared, _LARGEST_SENT)
    if size < declared:
        ctx.note("sent_instead_of_declared", f"{size} bytes (the suite sends at most that)")
    event = ctx.create("", generate=False, store=False)
    # The message is the event's compact JSON (as Connection.send_json writes it), all ASCII.
    event["input"] = "x" * (size - len(json.dumps(event, separators=(",", ":"))))
    conn = await ctx.connect()
    what = f"a response.create of exactly {size} bytes (the declared max-message-size)"
    index = await ctx.send_create(conn, event, note=what)
    outcome = await ctx.outcome(conn, index, what=what, requirement="RWS-TRANS-7")
    # Any outcome of the request shows the message was read: a run, or a request-scoped error
    # about what it asks for (an input too long for the model is not a refused message).
    ctx.note("answer_at_declared_size", describe(outcome))
    # A close right after the answer is a refusal too: watch the quiet period for one.
    await quiet_after(ctx, conn, len(conn.messages))
    ctx.expect(
        "RWS-TRANS-7",
        not conn.closed.is_set(),
        f"{what} was answered ({describe(outcome)}), then the server closed the connection "
        f"(code {conn.close_code})",
    )
