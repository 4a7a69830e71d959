"""Scenarios of messages that are not valid client events (RWS-CREATE-9/10/11, RWS-ERR-3)."""

from __future__ import annotations

import json

from conformance.harness.context import PrerequisiteFailed, ScenarioContext
from conformance.harness.registry import scenario
from conformance.harness.wire import ConnectionClosedError, ExpectationTimeout, Message
from conformance.scenarios._common import describe, expect_run_status, is_error, quiet_after

__all__: list[str] = []


async def _expect_frame_error(
    ctx: ScenarioContext, conn_send: str | bytes, code: str, requirement: str, what: str
) -> None:
    conn = ctx.connections[-1]
    since = len(conn.messages)
    if isinstance(conn_send, bytes):
        await conn.send_binary(conn_send, note=what)
    else:
        await conn.send_text(conn_send, note=what)
    try:
        await conn.expect_within(is_error(code), ctx.config.timeout, since=since, what=what)
    except ExpectationTimeout as exc:
        raise ctx.fail(requirement, f"{what}: expected the error {code!r}; {exc}") from exc
    except ConnectionClosedError as exc:
        raise ctx.fail(requirement, f"{what}: expected the error {code!r}; {exc}") from exc
    ctx.expect(requirement, True, "")


async def _still_usable(ctx: ScenarioContext, requirement: str) -> None:
    conn = ctx.connections[-1]
    run = await ctx.request(
        conn,
        ctx.create("still there?", generate=False),
        what="a request after the frame error",
        requirement="RWS-ERR-3",
    )
    expect_run_status(ctx, run, "completed", "RWS-ERR-3", what="a request after the error")
    ctx.expect(requirement, not conn.closed.is_set(), "the connection did not stay open")


# RWS-CREATE-10: binary message -> unsupported_frame_type and the connection stays open, or
# the RFC 6455 close 1003; RWS-CREATE-22 (SHOULD) prefers the error, which keeps the cache.
@scenario(
    "frames.binary-message-error",
    "a binary message is answered with unsupported_frame_type and the connection stays usable "
    "(or closed with 1003)",
    requirements=("RWS-CREATE-10", "RWS-CREATE-22", "RWS-ERR-3"),
    deliberate=("RWS-TRANS-6",),
    drives="one binary message, then a generate:false response.create",
    needs_model=False,
)
async def binary(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
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
    await _still_usable(ctx, "RWS-CREATE-10")


# RWS-CREATE-9: not JSON, and JSON that is not an object -> invalid_json.
@scenario(
    "frames.invalid-json-error",
    "text that is not a JSON object is answered with invalid_json and the connection stays",
    requirements=("RWS-CREATE-9", "RWS-ERR-3"),
    deliberate=("RWS-TRANS-6",),
    drives="the text 'not json {', then the text '[1, 2]', then a generate:false request",
    needs_model=False,
)
async def invalid_json(ctx: ScenarioContext) -> None:
    await ctx.connect()
    await _expect_frame_error(ctx, "not json {", "invalid_json", "RWS-CREATE-9", "text not JSON")
    await _expect_frame_error(ctx, "[1, 2]", "invalid_json", "RWS-CREATE-9", "JSON array")
    await _still_usable(ctx, "RWS-CREATE-9")


# RWS-CREATE-11: unknown or missing type -> unknown_event_type.
@scenario(
    "frames.unknown-event-type",
    "an object with an unknown or missing type is answered with unknown_event_type",
    requirements=("RWS-CREATE-11", "RWS-ERR-3"),
    deliberate=("RWS-TRANS-6",),
    drives='{"type": "response.bogus"}, then {"model": "x"}, then a generate:false request',
    needs_model=False,
)
async def unknown_type(ctx: ScenarioContext) -> None:
    await ctx.connect()
    await _expect_frame_error(
        ctx, '{"type":"response.bogus"}', "unknown_event_type", "RWS-CREATE-11", "unknown type"
    )
    await _expect_frame_error(
        ctx, '{"model":"x"}', "unknown_event_type", "RWS-CREATE-11", "missing type"
    )
    await _still_usable(ctx, "RWS-CREATE-11")


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
