"""Scenarios of one run's event stream: ordering, deltas, sequence numbers (RWS-ORDER/DELTA/SEQ).

The scenarios drive the runs; the checker judges the grammar and the delta equalities over
the transcript. The scenarios add what only they know: the exact output the conformance
model owes for the directives they sent (RWS-MODEL-2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import Outcome
from conformance.harness.registry import scenario
from conformance.harness.wire import Message
from conformance.scenarios._common import expect_run_status, output_items
from conformance.scenarios._model import chunk_sizes, normalise_input, pattern, tokens, tokens_of

__all__: list[str] = []

_GRAMMAR = (
    "RWS-EVENT-1",
    "RWS-EVENT-2",
    "RWS-EVENT-6",
    "RWS-ORDER-1",
    "RWS-ORDER-2",
    "RWS-ORDER-3",
    "RWS-ORDER-4",
    "RWS-ORDER-5",
    "RWS-ORDER-8",
    "RWS-ORDER-9",
    "RWS-DELTA-8",
    "RWS-SEQ-1",
    "RWS-SEQ-2",
    "RWS-SEQ-3",
    "RWS-TRANS-5",
)


def _expect_usage(ctx: ScenarioContext, run: Outcome, input: Any, output_texts: list[str]) -> None:
    # RWS-MODEL-2: usage follows appendix A.2 exactly (no instructions, no previous response).
    usage = run.response.get("usage") or {}
    expected_in = tokens_of(normalise_input(input))
    expected_out = sum(tokens(text) for text in output_texts)
    got = (usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens"))
    want = (expected_in, expected_out, expected_in + expected_out)
    ctx.expect("RWS-MODEL-2", got == want, f"usage (input, output, total) {got}, expected {want}")


def _deltas(run: Outcome, event_type: str) -> list[str]:
    return [str(e.get("delta", "")) for e in run.of_type(event_type)]


# RWS-MODEL-1, RWS-MODEL-2, RWS-DELTA-1/2 and the grammar over a text run in 7 deltas.
@scenario(
    "stream.text",
    "a text run (100 characters in 7 deltas) follows the grammar and the appendix exactly",
    requirements=("RWS-MODEL-1", "RWS-MODEL-2", "RWS-DELTA-1", "RWS-DELTA-2", *_GRAMMAR),
    drives="'rws:text length=100 chunks=7', store true",
)
async def text(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    prompt = "rws:text length=100 chunks=7"
    run = await ctx.request(conn, ctx.create(prompt))
    if not expect_run_status(ctx, run, "completed", "RWS-MODEL-1", what="text run"):
        return
    ctx.expect(
        "RWS-MODEL-2",
        run.output_texts() == [pattern(100)],
        f"output text {run.output_texts()!r}, expected [pattern(100)]",
    )
    sizes = [len(d) for d in _deltas(run, "response.output_text.delta")]
    ctx.expect("RWS-MODEL-2", sizes == chunk_sizes(100, 7), f"delta sizes {sizes}")
    _expect_usage(ctx, run, prompt, [pattern(100)])


# RWS-DELTA-3: refusal deltas.
@scenario(
    "stream.refusal",
    "a refusal run's deltas concatenate to the refusal everywhere it appears",
    requirements=("RWS-DELTA-3", "RWS-DELTA-2", "RWS-ORDER-6", *_GRAMMAR),
    drives="'rws:refusal length=61 chunks=5'",
)
async def refusal(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create("rws:refusal length=61 chunks=5"))
    if not expect_run_status(ctx, run, "completed", "RWS-DELTA-3", what="refusal run"):
        return
    joined = "".join(_deltas(run, "response.refusal.delta"))
    ctx.expect("RWS-DELTA-3", joined == pattern(61), f"refusal deltas give {joined!r}")


# RWS-DELTA-4: function-call argument deltas.
@scenario(
    "stream.function-call",
    "a function call's argument deltas concatenate to its arguments everywhere",
    requirements=("RWS-DELTA-4", *_GRAMMAR),
    drives='\'rws:call name=get_weather chunks=4 arguments={"city": "Paris", "unit": "C"}\'',
)
async def function_call(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    arguments = '{"city": "Paris", "unit": "C"}'
    run = await ctx.request(
        conn, ctx.create(f"rws:call name=get_weather chunks=4 arguments={arguments}")
    )
    if not expect_run_status(ctx, run, "completed", "RWS-DELTA-4", what="function-call run"):
        return
    joined = "".join(_deltas(run, "response.function_call_arguments.delta"))
    ctx.expect("RWS-DELTA-4", joined == arguments, f"argument deltas give {joined!r}")
    calls = [i for i in output_items(run) if i.get("type") == "function_call"]
    ctx.expect(
        "RWS-MODEL-2",
        len(calls) == 1 and calls[0].get("name") == "get_weather",
        f"expected one function_call get_weather, got {calls}",
    )


# RWS-DELTA-6: reasoning summary and reasoning text deltas.
@scenario(
    "stream.reasoning",
    "reasoning summary and text deltas concatenate to their done texts",
    requirements=("RWS-DELTA-6", "RWS-DELTA-2", "RWS-ORDER-6", *_GRAMMAR),
    drives="'rws:reasoning summary=40 text=30 chunks=4' then 'rws:text length=5'",
)
async def reasoning(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(
        conn, ctx.create("rws:reasoning summary=40 text=30 chunks=4\nrws:text length=5")
    )
    if not expect_run_status(ctx, run, "completed", "RWS-DELTA-6", what="reasoning run"):
        return
    summary = "".join(_deltas(run, "response.reasoning_summary_text.delta"))
    ctx.expect("RWS-DELTA-6", summary == pattern(40), f"summary deltas give {summary!r}")
    usage = run.response.get("usage") or {}
    details = usage.get("output_tokens_details") or {}
    want = tokens(pattern(40)) + tokens(pattern(30))
    ctx.expect(
        "RWS-MODEL-2",
        details.get("reasoning_tokens") == want,
        f"reasoning_tokens {details.get('reasoning_tokens')!r}, expected {want}",
    )


# RWS-ORDER-7, RWS-ORDER-9: several items, indexes from 0 without gaps, output in order.
@scenario(
    "stream.multi-item",
    "a run with four items numbers them 0..3 and lists them in order in the terminal output",
    requirements=("RWS-ORDER-7", "RWS-ORDER-9", *_GRAMMAR),
    drives="reasoning, text, refusal and call directives in one message",
)
async def multi_item(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    prompt = "\n".join(
        (
            "rws:reasoning summary=12 text=0 chunks=2",
            "rws:text length=20 chunks=3",
            "rws:refusal length=9 chunks=2",
            'rws:call name=lookup chunks=2 arguments={"q": 1}',
        )
    )
    run = await ctx.request(conn, ctx.create(prompt))
    if not expect_run_status(ctx, run, "completed", "RWS-ORDER-9", what="multi-item run"):
        return
    types = [i.get("type") for i in output_items(run)]
    want = ["reasoning", "message", "message", "function_call"]
    ctx.expect("RWS-MODEL-2", types == want, f"output item types {types}, expected {want}")
    indexes = [e.get("output_index") for e in run.of_type("response.output_item.added")]
    ctx.expect("RWS-ORDER-7", indexes == [0, 1, 2, 3], f"output indexes {indexes}")


# RWS-ORDER-11, RWS-ORDER-3: an incomplete run.
@scenario(
    "stream.incomplete",
    "an incomplete run ends with response.incomplete and its last item incomplete",
    requirements=("RWS-ORDER-11", "RWS-ORDER-3", *_GRAMMAR),
    drives="'rws:text length=30 chunks=3' and 'rws:incomplete'",
)
async def incomplete(ctx: ScenarioContext) -> None:
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


# RWS-ORDER-12, RWS-ORDER-3: a run that fails after response.created ends response.failed.
@scenario(
    "stream.failed",
    "a run failing after response.created ends with response.failed carrying response.error",
    # A run failing at its 4th event has no finished item and no output listing, so
    # RWS-ORDER-9 and RWS-DELTA-8 have nothing to apply to here.
    requirements=(
        "RWS-ORDER-12",
        *(r for r in _GRAMMAR if r not in ("RWS-ORDER-9", "RWS-DELTA-8")),
    ),
    drives="'rws:text length=40 chunks=4' and 'rws:fail after=4'",
)
async def failed(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create("rws:text length=40 chunks=4\nrws:fail after=4"))
    if not expect_run_status(ctx, run, "failed", "RWS-ORDER-12", what="failing run"):
        return
    ctx.expect(
        "RWS-ORDER-3",
        run.code == "server_error",
        f"response.error.code {run.code!r}, expected server_error",
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
    sizes = [len(d) for d in _deltas(run, "response.output_text.delta")]
    ctx.expect("RWS-MODEL-2", sizes == [_LARGE_TEXT], f"delta sizes {sizes[:5]}")
    ctx.expect(
        "RWS-MODEL-2",
        run.output_texts() == [pattern(_LARGE_TEXT)],
        f"the output text is not pattern({_LARGE_TEXT}) "
        f"(lengths {[len(t) for t in run.output_texts()]})",
    )
