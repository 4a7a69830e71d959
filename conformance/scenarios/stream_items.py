"""Scenarios of the items a model produces when it chooses to: refusals, function calls,
reasoning, several items, a failed run (RWS-DELTA-3/4/6, RWS-ORDER-6/7/12).

conformance-1 produces each on request (its ``rws:`` directives), and the checks compare
the result with the appendix. A real model produces them only when it chooses to; the
checker judges them in any run where they occur, and here:

* a function call is what standard parameters force: a function tool with ``tool_choice``
  naming it; the tool loop is then continued with ``function_call_output``;
* reasoning is asked for (``reasoning.summary``) but not forced: a model that produces none,
  or a server that refuses the parameter, leaves the rules "not reached with this model";
* a refusal, several items in one run and a failed run cannot be asked for with standard
  parameters: those checks are skipped with that reason, never forced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from conformance.harness.config import SuiteConfig
from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import Outcome
from conformance.harness.registry import scenario
from conformance.scenarios._common import (
    describe,
    expect_run_status,
    expect_served,
    not_reached,
    output_items,
    turn,
)
from conformance.scenarios._model import pattern, tokens
from conformance.scenarios._stream import (
    GRAMMAR,
    deltas,
    judged_request,
    require_run,
    set_aside_unexercised,
    summary,
)

__all__: list[str] = []


def _cannot_be_asked_for(what: str) -> Any:
    """A skip condition: ``what`` is produced on request by conformance-1 only."""

    def reason(config: SuiteConfig) -> str | None:
        if config.scripted:
            return None
        return (
            f"not reached with model {config.model!r}: the check needs {what}, which only "
            "conformance-1's directives produce on request (no standard parameter makes a "
            "real model produce it; when one does, the checker judges it in that run)"
        )

    return reason


# RWS-DELTA-3: refusal deltas.
@scenario(
    "stream.refusal",
    "a refusal run's deltas concatenate to the refusal everywhere it appears",
    requirements=("RWS-DELTA-3", "RWS-DELTA-2", "RWS-ORDER-6", *GRAMMAR),
    drives="'rws:refusal length=61 chunks=5'",
    needs_model=False,
    skip_if=_cannot_be_asked_for("a refusal"),
)
async def refusal(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create("rws:refusal length=61 chunks=5"))
    if not expect_run_status(ctx, run, "completed", "RWS-DELTA-3", what="refusal run"):
        return
    joined = "".join(deltas(run, "response.refusal.delta"))
    ctx.expect("RWS-DELTA-3", joined == pattern(61), f"refusal deltas give {joined!r}")


# The function tool of the any-model call: strict, so that a model that honours strict mode
# answers arguments valid for these parameters.
_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city's name."},
            "unit": {"type": "string", "enum": ["C", "F"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
_CALL_PROMPT = "What is the weather in Paris right now?"
# The output the suite answers the call with.
_TOOL_OUTPUT = '{"temperature": 21, "unit": "C", "sky": "clear"}'
_CALL_RULES = ("RWS-DELTA-4", *GRAMMAR)


def _arguments_reading(call: Mapping[str, Any]) -> str:
    """Whether a call's arguments are JSON valid for the tool's parameters (data only).

    The HTTP API promises schema-valid arguments only in strict mode and for models that
    support it; this specification asks only that the deltas add up (RWS-DELTA-4).
    """
    text = call.get("arguments")
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError as exc:
        return f"not valid JSON ({exc}): {str(text)[:120]!r}"
    errors = sorted(
        jsonschema.Draft202012Validator(_TOOL["parameters"]).iter_errors(value), key=str
    )
    if errors:
        return f"valid JSON, not valid for the tool's parameters: {errors[0].message}"
    return f"valid JSON for the tool's parameters: {text}"


async def _tool_loop(ctx: ScenarioContext, conn: Any, run: Outcome, call_id: str) -> None:
    """Continue ``run`` with the call's output (RWS-CACHE-2: served from the cached entry)."""
    loop_input: list[dict[str, Any]] = [
        {"type": "function_call_output", "call_id": call_id, "output": _TOOL_OUTPUT}
    ]
    if ctx.config.scripted:
        # conformance-1 reads its directive from the latest user message.
        loop_input.append({"role": "user", "content": "rws:text length=12"})
    fields: dict[str, Any] = {"previous_response_id": run.response_id, "store": False}
    if not ctx.config.scripted:
        # A client answers the call with tool_choice back to auto (a forced choice calls
        # again), and sends the tools again: they are not carried over.
        fields.update(tools=[_TOOL], tool_choice="auto", max_output_tokens=256)
    follow = await ctx.request(
        conn, ctx.create(loop_input, **fields), what="the call's output (function_call_output)"
    )
    ctx.note("tool_loop", summary(follow))
    expect_served(
        ctx,
        follow,
        "RWS-CACHE-2",
        what=f"response {run.response_id} (store:false) ended {run.status} with the call "
        f"{call_id}; the next request continued it on the same connection with "
        "previous_response_id and a function_call_output for that call",
    )


# RWS-DELTA-4: function-call argument deltas; RWS-CACHE-2: the tool loop continues the call.
@scenario(
    "stream.function-call",
    "a function call's argument deltas concatenate to its arguments everywhere, and the call "
    "is continued with its output",
    requirements=(*_CALL_RULES, "RWS-CACHE-2"),
    drives='\'rws:call name=get_weather chunks=4 arguments={"city": "Paris", "unit": "C"}\' '
    "(another model: a get_weather function tool forced by tool_choice); then "
    "previous_response_id with a function_call_output for the call",
    needs_model=False,
)
async def function_call(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    arguments = '{"city": "Paris", "unit": "C"}'
    forced = {"type": "function", "name": "get_weather"}
    # Another model: the call is forced by standard parameters (its arguments need more room
    # than the usual answer cap).
    standard = {"tools": [_TOOL], "tool_choice": forced, "max_output_tokens": 256}
    event = turn(
        ctx,
        f"rws:call name=get_weather chunks=4 arguments={arguments}",
        _CALL_PROMPT,
        store=False,
        **({} if ctx.config.scripted else standard),
    )
    run = await judged_request(
        ctx, conn, event, (*_CALL_RULES, "RWS-CACHE-2"), what="the function-call run"
    )
    if ctx.config.scripted:
        if not expect_run_status(ctx, run, "completed", "RWS-DELTA-4", what="function-call run"):
            return
        joined = "".join(deltas(run, "response.function_call_arguments.delta"))
        ctx.expect("RWS-DELTA-4", joined == arguments, f"argument deltas give {joined!r}")
    elif run.kind == "error":
        # The specification does not require function tools: a refusal is reported.
        ctx.note("function_tool_refused", describe(run))
        for requirement in (*_CALL_RULES, "RWS-CACHE-2"):
            not_reached(ctx, requirement, f"the request with a function tool got {describe(run)}")
        return
    else:
        require_run(ctx, run, f"{_CALL_PROMPT!r} with tool_choice {forced}")
    calls = [i for i in output_items(run) if i.get("type") == "function_call"]
    ctx.note("run", summary(run))
    if ctx.config.scripted:
        ctx.expect(
            "RWS-MODEL-2",
            len(calls) == 1 and calls[0].get("name") == "get_weather",
            f"expected one function_call get_weather, got {calls}",
        )
    elif calls:
        ctx.note("arguments", _arguments_reading(calls[0]))
    else:
        # tool_choice has its HTTP meaning; no requirement of this specification restates it.
        ctx.note("forced_call_not_made", f"tool_choice {forced} was sent; {summary(run)}")
    set_aside_unexercised(ctx, _CALL_RULES, summary(run))
    call_id = calls[0].get("call_id") if calls else None
    if not isinstance(call_id, str):
        not_reached(ctx, "RWS-CACHE-2", f"no function call to answer ({summary(run)})")
        return
    await _tool_loop(ctx, conn, run, call_id)


# The any-model reasoning run: reasoning is asked for with a summary; whether the model
# reasons is its own affair.
_REASONING = {"effort": "low", "summary": "auto"}
_REASONING_PROMPT = "How many prime numbers are there below 30? Answer with the number."
_REASONING_RULES = ("RWS-DELTA-6", "RWS-DELTA-2", "RWS-ORDER-6", *GRAMMAR)


# RWS-DELTA-6: reasoning summary and reasoning text deltas.
@scenario(
    "stream.reasoning",
    "reasoning summary and text deltas concatenate to their done texts",
    requirements=_REASONING_RULES,
    drives="'rws:reasoning summary=40 text=30 chunks=4' then 'rws:text length=5' (another "
    'model: an ordinary question with reasoning {"effort": "low", "summary": "auto"}; '
    "judged when the model reasons)",
    needs_model=False,
)
async def reasoning(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    if not ctx.config.scripted:
        sent = f"{_REASONING_PROMPT!r} with reasoning {_REASONING}"
        run = await judged_request(
            ctx,
            conn,
            ctx.create(_REASONING_PROMPT, reasoning=_REASONING, max_output_tokens=1024),
            _REASONING_RULES,
            what="the reasoning run",
        )
        if run.kind == "error":
            # A model without reasoning may be refused the parameter: permitted.
            for requirement in _REASONING_RULES:
                not_reached(ctx, requirement, f"{sent} got {describe(run)}")
            return
        require_run(ctx, run, sent)
        ctx.note("run", summary(run))
        set_aside_unexercised(ctx, _REASONING_RULES, summary(run))
        return
    run = await ctx.request(
        conn, ctx.create("rws:reasoning summary=40 text=30 chunks=4\nrws:text length=5")
    )
    if not expect_run_status(ctx, run, "completed", "RWS-DELTA-6", what="reasoning run"):
        return
    joined = "".join(deltas(run, "response.reasoning_summary_text.delta"))
    ctx.expect("RWS-DELTA-6", joined == pattern(40), f"summary deltas give {joined!r}")
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
    requirements=("RWS-ORDER-7", "RWS-ORDER-9", *GRAMMAR),
    drives="reasoning, text, refusal and call directives in one message",
    needs_model=False,
    skip_if=_cannot_be_asked_for("one run with four output items of four kinds"),
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


# RWS-ORDER-12, RWS-ORDER-3: a run that fails after response.created ends response.failed.
@scenario(
    "stream.failed",
    "a run failing after response.created ends with response.failed carrying response.error",
    # A run failing at its 4th event has no finished item and no output listing, so
    # RWS-ORDER-9 and RWS-DELTA-8 have nothing to apply to here.
    requirements=(
        "RWS-ORDER-12",
        *(r for r in GRAMMAR if r not in ("RWS-ORDER-9", "RWS-DELTA-8")),
    ),
    drives="'rws:text length=40 chunks=4' and 'rws:fail after=4'",
    needs_model=False,
    skip_if=_cannot_be_asked_for("a run that fails after response.created"),
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
