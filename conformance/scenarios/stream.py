"""Scenarios of one run's event stream: ordering, deltas, sequence numbers (RWS-ORDER/DELTA/SEQ).

The scenarios drive the runs; the checker judges the grammar and the delta equalities over
the transcript. The scenarios add what only they know: the exact output the conformance
model owes for the directives they sent (RWS-MODEL-2).

With a model other than conformance-1 the text and incomplete checks send ordinary prompts
and standard parameters (``max_output_tokens``), and every rule of the stream is judged on
whatever the model answers; a rule the answer gave nothing to apply to is "not reached with
this model" (:func:`~conformance.scenarios._stream.set_aside_unexercised`). The checks of
items a model produces only when it chooses to (refusal, reasoning, calls, several items, a
failed run) are in :mod:`conformance.scenarios.stream_items`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import Outcome
from conformance.harness.registry import scenario
from conformance.harness.wire import Message
from conformance.scenarios._common import (
    describe,
    expect_run_status,
    not_reached,
    not_scripted,
    output_items,
    turn,
)
from conformance.scenarios._model import chunk_sizes, normalise_input, pattern, tokens, tokens_of
from conformance.scenarios._stream import (
    GRAMMAR,
    deltas,
    judged_request,
    require_run,
    set_aside_unexercised,
    summary,
)

__all__: list[str] = []


def _expect_usage(ctx: ScenarioContext, run: Outcome, input: Any, output_texts: list[str]) -> None:
    # RWS-MODEL-2: usage follows appendix A.2 exactly (no instructions, no previous response).
    usage = run.response.get("usage") or {}
    expected_in = tokens_of(normalise_input(input))
    expected_out = sum(tokens(text) for text in output_texts)
    got = (usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens"))
    want = (expected_in, expected_out, expected_in + expected_out)
    ctx.expect("RWS-MODEL-2", got == want, f"usage (input, output, total) {got}, expected {want}")


# The any-model prompt of stream.text: an ordinary answer of a few sentences (capped).
_TEXT_PROMPT = "Describe a river at dawn in three short sentences."
# Requirements of a text run: its text part's deltas (RWS-DELTA-1), initial part (RWS-DELTA-2)
# and part events (RWS-ORDER-6), its item's output_index 0 (RWS-ORDER-7), and the grammar.
_TEXT_RULES = ("RWS-DELTA-1", "RWS-DELTA-2", "RWS-ORDER-6", "RWS-ORDER-7", *GRAMMAR)


# RWS-MODEL-1, RWS-MODEL-2, RWS-DELTA-1/2 and the grammar over a text run: with conformance-1
# 100 characters in 7 deltas, exactly as the appendix says; with any other model whatever
# the model answers an ordinary prompt, judged by the checker.
@scenario(
    "stream.text",
    "a text run follows the grammar and the delta equalities (conformance-1: 100 characters "
    "in 7 deltas, exactly as the appendix says)",
    requirements=("RWS-MODEL-1", "RWS-MODEL-2", *_TEXT_RULES),
    drives="'rws:text length=100 chunks=7', store true (another model: "
    f"'{_TEXT_PROMPT}' with max_output_tokens 64)",
    needs_model=False,
)
async def text(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    prompt = "rws:text length=100 chunks=7"
    if not ctx.config.scripted:
        not_scripted(ctx, "RWS-MODEL-1", "what conformance-1 must answer")
        not_scripted(ctx, "RWS-MODEL-2", "the exact output of a run (text, deltas, usage)")
        run = await judged_request(
            ctx, conn, turn(ctx, prompt, _TEXT_PROMPT), _TEXT_RULES, what="the text run"
        )
        require_run(ctx, run, f"the request {_TEXT_PROMPT!r} (max_output_tokens 64)")
        ctx.note("run", summary(run))
        set_aside_unexercised(ctx, _TEXT_RULES, summary(run))
        return
    run = await ctx.request(conn, ctx.create(prompt))
    if not expect_run_status(ctx, run, "completed", "RWS-MODEL-1", what="text run"):
        return
    ctx.expect(
        "RWS-MODEL-2",
        run.output_texts() == [pattern(100)],
        f"output text {run.output_texts()!r}, expected [pattern(100)]",
    )
    sizes = [len(d) for d in deltas(run, "response.output_text.delta")]
    ctx.expect("RWS-MODEL-2", sizes == chunk_sizes(100, 7), f"delta sizes {sizes}")
    _expect_usage(ctx, run, prompt, [pattern(100)])


# The any-model incomplete run: a prompt whose answer is far longer than the smallest
# max_output_tokens the server accepts. OpenAI's minimum is 16; a server that refuses a value
# (a request-scoped error) is asked with the next one.
_LONG_PROMPT = "Write a detailed story of at least 500 words about a lighthouse keeper."
_SMALL_CAPS = (16, 32, 64)
_INCOMPLETE_RULES = ("RWS-ORDER-11", "RWS-ORDER-3", *GRAMMAR)


async def _incomplete_any_model(ctx: ScenarioContext) -> None:
    """Any model: the smallest accepted max_output_tokens, for an incomplete run."""
    conn = await ctx.connect()
    refused: list[str] = []
    run: Outcome | None = None
    cap = _SMALL_CAPS[0]
    for cap in _SMALL_CAPS:
        outcome = await judged_request(
            ctx,
            conn,
            ctx.create(_LONG_PROMPT, max_output_tokens=cap),
            _INCOMPLETE_RULES,
            what=f"the request with max_output_tokens {cap}",
        )
        if outcome.kind == "run":
            run = outcome
            break
        # A minimum above 16 is the server's choice (the specification sets none).
        refused.append(f"max_output_tokens {cap}: {describe(outcome)}")
    if refused:
        ctx.note("max_output_tokens_refused", refused)
    sent = f"{_LONG_PROMPT!r} with max_output_tokens {cap}"
    if run is None:
        for requirement in _INCOMPLETE_RULES:
            not_reached(ctx, requirement, f"every max_output_tokens tried was refused: {refused}")
        return
    require_run(ctx, run, sent)
    ctx.note("run", f"{sent}: {summary(run)}")
    details = run.response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, Mapping) else None
    if run.status == "completed":
        # The model stopped within the budget: permitted, reported as data.
        usage = run.response.get("usage")
        used = usage.get("output_tokens") if isinstance(usage, Mapping) else None
        ctx.note(
            "incomplete_not_reached",
            f"the run completed within max_output_tokens {cap} (output_tokens {used!r})",
        )
        not_reached(
            ctx,
            "RWS-ORDER-11",
            f"{sent} completed (output_tokens {used!r}): the model stopped before the budget",
        )
    elif reason != "max_output_tokens":
        # RWS-ORDER-3 asks for a reason (the checker judges it); which one is the server's.
        ctx.note("incomplete_reason", f"{reason!r} (asked for max_output_tokens {cap})")
    set_aside_unexercised(ctx, _INCOMPLETE_RULES, summary(run))


# RWS-ORDER-11, RWS-ORDER-3: an incomplete run.
@scenario(
    "stream.incomplete",
    "an incomplete run ends with response.incomplete and its last item incomplete",
    requirements=_INCOMPLETE_RULES,
    drives="'rws:text length=30 chunks=3' and 'rws:incomplete' (another model: a request for "
    "a long story with max_output_tokens 16, or the next of 32 and 64 the server accepts)",
    needs_model=False,
)
async def incomplete(ctx: ScenarioContext) -> None:
    if not ctx.config.scripted:
        await _incomplete_any_model(ctx)
        return
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create("rws:text length=30 chunks=3\nrws:incomplete"))
    if not expect_run_status(ctx, run, "incomplete", "RWS-ORDER-11", what="incomplete run"):
        return
    details = run.response.get("incomplete_details") or {}
    ctx.expect(
        "RWS-ORDER-3",
        isinstance(details, Mapping) and details.get("reason") == "max_output_tokens",
        f"incomplete_details {details!r}, expected reason max_output_tokens",
    )
    # Appendix A: under 'rws:incomplete' the first item ends with status incomplete (and
    # RWS-ORDER-11, judged by the checker, asks that such an item be the last).
    items = output_items(run)
    ctx.expect(
        "RWS-MODEL-2",
        bool(items) and items[-1].get("status") == "incomplete",
        f"'rws:incomplete': the last output item is not incomplete: {summary(run)}",
    )


# The grammar over whatever the configured model answers (runnable with any model).
@scenario(
    "stream.any-model-run",
    "a plain run of the configured model follows the grammar",
    requirements=(
        "RWS-EVENT-1",
        "RWS-EVENT-5",
        "RWS-ORDER-1",
        "RWS-ORDER-2",
        "RWS-SEQ-1",
        "RWS-SEQ-2",
        "RWS-TRANS-5",
    ),
    drives="one request 'Say hello in five words.' with max_output_tokens 64",
    needs_model=False,
)
async def any_model_run(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create("Say hello in five words.", max_output_tokens=64))
    ctx.expect("RWS-ORDER-2", run.kind == "run", f"expected a run, got {run.kind} {run.code}")
    carried = [e.get("type") for e in run.events if "stream_id" in e]
    ctx.expect("RWS-EVENT-5", not carried, f"default-lane events carry stream_id: {carried}")


# RWS-EVENT-7: response ids are never reused, across runs and connections.
@scenario(
    "stream.response-ids-unique",
    "every response of several runs on two connections has its own id",
    requirements=("RWS-EVENT-7",),
    drives="three runs (store true, store false, generate:false) on each of two connections",
    needs_model=False,
)
async def response_ids_unique(ctx: ScenarioContext) -> None:
    ids: list[str | None] = []
    for _ in range(2):
        conn = await ctx.connect()
        for fields in ({"store": True}, {"store": False}, {"generate": False}):
            run = await ctx.request(conn, ctx.create("hi", max_output_tokens=16, **fields))
            ids.append(run.response_id if run.kind == "run" else None)
    ran = [i for i in ids if i is not None]
    if len(ran) < len(ids):
        raise ctx.fail("RWS-EVENT-7", f"prerequisite: not every request ran: {ids}")
    repeated = sorted({i for i in ran if ran.count(i) > 1})
    ctx.expect("RWS-EVENT-7", not repeated, f"response ids used more than once: {repeated}")


# The text of the large-event check: one delta, and every done event and the terminal
# response that repeat it, is an event of about 200 KB.
_LARGE_TEXT = 200_000


def _not_one_object(message: Message) -> str | None:
    """Why a server message is not one JSON object in one text message (None: it is)."""
    if message.kind == "binary":
        return f"message {message.index} is a binary message of {len(message.data or b'')} bytes"
    if message.kind == "text" and message.event is None:
        text = message.text or ""
        return (
            f"message {message.index} is {len(text)} characters of text that are not one JSON "
            f"object (it starts {text[:30]!r} and ends {text[-30:]!r})"
        )
    return None


# RWS-TRANS-5: however large a server event is, it comes as one JSON object in one text
# message (never split over several messages, never binary).
@scenario(
    "stream.large-event",
    "events carrying a 200,000-character text each come as one JSON object in one text message",
    requirements=("RWS-TRANS-5", "RWS-MODEL-2"),
    drives=f"'rws:text length={_LARGE_TEXT} chunks=1', store false",
)
async def large_event(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    prompt = f"rws:text length={_LARGE_TEXT} chunks=1"
    try:
        run = await ctx.request(
            conn, ctx.create(prompt, store=False), what=f"the {_LARGE_TEXT}-character text run"
        )
    finally:
        # Judged also when the run never completed: a terminal event split in two or sent
        # as binary never completes it.
        broken = [reason for m in conn.messages if (reason := _not_one_object(m)) is not None]
        ctx.expect(
            "RWS-TRANS-5",
            not broken,
            f"asked for one {_LARGE_TEXT}-character text delta ({prompt!r}); "
            f"{len(broken)} server message(s) were not one JSON object in one text message: "
            + "; ".join(broken[:3]),
        )
        largest = max((len(m.text or "") for m in conn.messages), default=0)
        ctx.note("largest_server_message_characters", largest)
    if not expect_run_status(ctx, run, "completed", "RWS-MODEL-2", what="the large text run"):
        return
    sizes = [len(d) for d in deltas(run, "response.output_text.delta")]
    ctx.expect("RWS-MODEL-2", sizes == [_LARGE_TEXT], f"delta sizes {sizes[:5]}")
    ctx.expect(
        "RWS-MODEL-2",
        run.output_texts() == [pattern(_LARGE_TEXT)],
        f"the output text is not pattern({_LARGE_TEXT}) "
        f"(lengths {[len(t) for t in run.output_texts()]})",
    )
