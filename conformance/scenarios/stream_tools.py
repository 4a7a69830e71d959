"""Scenarios of the tool calls whose text a model streams and of annotated text: custom tool
calls, MCP calls and code interpreter calls (RWS-DELTA-5), annotations (RWS-DELTA-7).

conformance-1 produces each on request (``rws:custom``, ``rws:mcp``, ``rws:code``, ``rws:text
... annotations=M``); the checker judges the delta equalities (E5-custom, E5-mcp, E5-code,
E10) and the item grammar, and the checks compare the result with the appendix (RWS-MODEL-2).
A real model produces them only when it chooses to, and the checker judges them in any run
where they occur:

* a custom tool call is what standard parameters force: a custom tool with ``tool_choice``
  naming it; a server that refuses custom tools, or a model that answers otherwise, leaves the
  rules "not reached with this model";
* an MCP call needs an MCP server the suite does not provide, a code interpreter call and
  annotated text (citations) need hosted tools a server need not offer: those checks are
  skipped with that reason for any model but conformance-1, never forced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.harness.config import SuiteConfig
from conformance.harness.context import ScenarioContext
from conformance.harness.lanes import Outcome
from conformance.harness.registry import SkipCondition, scenario
from conformance.scenarios._common import (
    describe,
    expect_run_status,
    not_reached,
    not_scripted,
    output_items,
)
from conformance.scenarios._model import (
    annotation,
    annotation_spans,
    announced_after,
    chunk_sizes,
    pattern,
    tokens,
)
from conformance.scenarios._stream import (
    GRAMMAR,
    deltas,
    judged_request,
    require_run,
    set_aside_unexercised,
    summary,
)

__all__: list[str] = []

# The rules a tool call's run exercises: its text's deltas (RWS-DELTA-5) and the grammar.
_TOOL_RULES = ("RWS-DELTA-5", *GRAMMAR)


def _scripted_only(what: str, why: str) -> SkipCondition:
    """A skip condition: ``what`` is produced on request by conformance-1 only, for ``why``."""

    def reason(config: SuiteConfig) -> str | None:
        if config.scripted:
            return None
        return (
            f"not reached with model {config.model!r}: the check needs {what}, which {why}; "
            "conformance-1's directives produce it on request (when another model produces "
            "it, the checker judges it in that run)"
        )

    return reason


def _expect_items(
    ctx: ScenarioContext, run: Outcome, item_type: str, want: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """Expect the run's output to be one item of ``item_type`` with the fields of ``want``
    (RWS-MODEL-2); return it."""
    items = output_items(run)
    found = [{k: item.get(k) for k in ("type", *want)} for item in items]
    expected = [{"type": item_type, **want}]
    ctx.expect("RWS-MODEL-2", found == expected, f"output items {found}, expected {expected}")
    return items[0] if len(items) == 1 else None


def _expect_text(
    ctx: ScenarioContext, run: Outcome, delta_type: str, text: str, chunks: int
) -> None:
    """Expect the deltas of ``delta_type`` to be ``text`` in the appendix's chunks, and the
    run's output tokens to be those of ``text`` (RWS-MODEL-2, A.2, A.3)."""
    sent = deltas(run, delta_type)
    ctx.expect("RWS-MODEL-2", "".join(sent) == text, f"{delta_type} deltas give {sent!r}")
    sizes = [len(d) for d in sent]
    want = chunk_sizes(len(text), chunks)
    ctx.expect("RWS-MODEL-2", sizes == want, f"delta sizes {sizes}, expected {want}")
    usage = run.response.get("usage") or {}
    ctx.expect(
        "RWS-MODEL-2",
        usage.get("output_tokens") == tokens(text),
        f"usage.output_tokens {usage.get('output_tokens')!r}, expected tokens of the "
        f"generated text {tokens(text)}",
    )


# The custom tool of the any-model run (a free-form tool: its input is plain text).
_CUSTOM_TOOL: dict[str, Any] = {
    "type": "custom",
    "name": "run_shell",
    "description": "Runs one shell command line and returns what it prints.",
}
_CUSTOM_PROMPT = "Count the files of the current directory with the run_shell tool."
_CUSTOM_INPUT = 'ls -la "my files" | wc -l'


# RWS-DELTA-5 (E5-custom): a custom tool call's input deltas; RWS-MODEL-2: P counts the
# custom_tool_call_output that answers it.
@scenario(
    "stream.custom-tool-call",
    "a custom tool call's input deltas concatenate to its input everywhere, and its output "
    "counts as a tool output",
    requirements=(*_TOOL_RULES, "RWS-MODEL-2"),
    drives=f"'rws:custom name=run_shell chunks=4 input={_CUSTOM_INPUT}', then the call and a "
    "custom_tool_call_output for it in the input (another model: a run_shell custom tool "
    "forced by tool_choice)",
    needs_model=False,
)
async def custom_tool_call(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    if not ctx.config.scripted:
        not_scripted(ctx, "RWS-MODEL-2", "the exact output of a run (input, deltas, usage)")
        forced = {"type": "custom", "name": _CUSTOM_TOOL["name"]}
        sent = f"{_CUSTOM_PROMPT!r} with tool_choice {forced}"
        run = await judged_request(
            ctx,
            conn,
            ctx.create(
                _CUSTOM_PROMPT, tools=[_CUSTOM_TOOL], tool_choice=forced, max_output_tokens=256
            ),
            _TOOL_RULES,
            what="the custom-tool run",
        )
        if run.kind == "error":
            # The specification does not require custom tools: a refusal is reported.
            ctx.note("custom_tool_refused", describe(run))
            for requirement in _TOOL_RULES:
                not_reached(ctx, requirement, f"{sent} got {describe(run)}")
            return
        require_run(ctx, run, sent)
        ctx.note("run", summary(run))
        set_aside_unexercised(ctx, _TOOL_RULES, summary(run))
        return
    directive = f"rws:custom name=run_shell chunks=4 input={_CUSTOM_INPUT}"
    run = await ctx.request(conn, ctx.create(directive, store=False))
    if not expect_run_status(ctx, run, "completed", "RWS-DELTA-5", what="custom tool call run"):
        return
    _expect_text(ctx, run, "response.custom_tool_call_input.delta", _CUSTOM_INPUT, 4)
    call = _expect_items(
        ctx, run, "custom_tool_call", {"name": "run_shell", "input": _CUSTOM_INPUT}
    )
    if call is None or not isinstance(call.get("call_id"), str):
        return
    # A.3: P counts the custom_tool_call_output after the user message, so the call
    # directive is skipped and the model reports the output. The whole context is sent as
    # input (no previous_response_id), so that nothing but the model is judged here.
    answered = [
        {"type": "message", "role": "user", "content": directive},
        dict(call),
        {"type": "custom_tool_call_output", "call_id": call["call_id"], "output": "3"},
    ]
    follow = await ctx.request(
        conn, ctx.create(answered, store=False), what="the call with its custom_tool_call_output"
    )
    if not expect_run_status(ctx, follow, "completed", "RWS-MODEL-2", what="the answered call"):
        return
    texts = follow.output_texts()
    want = ["received 1 tool outputs"]
    ctx.expect("RWS-MODEL-2", texts == want, f"output texts {texts!r}, expected {want!r}")


_MCP_ARGUMENTS = '{"query": "responses over websocket", "limit": 3}'
_MCP = f"rws:mcp server=docs name=search chunks=5 arguments={_MCP_ARGUMENTS}"
# The budget that cuts the arguments of the MCP call: 3 tokens, so its first 12 bytes (A.5).
_MCP_BUDGET = 3


# RWS-DELTA-5 (E5-mcp): an MCP call's argument deltas.
@scenario(
    "stream.mcp-call",
    "an MCP call's argument deltas concatenate to its arguments everywhere, completed or cut "
    "by max_output_tokens",
    requirements=(*_TOOL_RULES, "RWS-MODEL-2"),
    drives=f"'{_MCP}', then the same with max_output_tokens {_MCP_BUDGET}",
    needs_model=False,
    skip_if=_scripted_only(
        "an MCP call", "a model makes only through an MCP server the suite does not provide"
    ),
)
async def mcp_call(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create(_MCP))
    if not expect_run_status(ctx, run, "completed", "RWS-DELTA-5", what="MCP call run"):
        return
    _expect_text(ctx, run, "response.mcp_call_arguments.delta", _MCP_ARGUMENTS, 5)
    want = {"server_label": "docs", "name": "search", "arguments": _MCP_ARGUMENTS}
    _expect_items(ctx, run, "mcp_call", {**want, "status": "completed"})
    # A.5: arguments cut by max_output_tokens: the call is not made (mcp_call.failed) and the
    # item ends incomplete with the arguments' first 4 * budget bytes.
    cut = await ctx.request(
        conn,
        ctx.create(_MCP, max_output_tokens=_MCP_BUDGET),
        what=f"the MCP call with max_output_tokens {_MCP_BUDGET}",
    )
    if not expect_run_status(ctx, cut, "incomplete", "RWS-MODEL-2", what="cut MCP call run"):
        return
    kept = _MCP_ARGUMENTS[: 4 * _MCP_BUDGET]
    _expect_items(ctx, cut, "mcp_call", {**want, "arguments": kept, "status": "incomplete"})
    endings = [
        str(e.get("type"))
        for e in cut.events
        if e.get("type") in ("response.mcp_call.completed", "response.mcp_call.failed")
    ]
    ctx.expect(
        "RWS-MODEL-2",
        endings == ["response.mcp_call.failed"],
        f"the cut call ended with {endings}, expected ['response.mcp_call.failed']",
    )


_CODE = "print(sum(n * n for n in range(10)))"


# RWS-DELTA-5 (E5-code): a code interpreter call's code deltas.
@scenario(
    "stream.code-interpreter-call",
    "a code interpreter call's code deltas concatenate to its code everywhere",
    requirements=(*_TOOL_RULES, "RWS-MODEL-2"),
    drives=f"'rws:code chunks=6 code={_CODE}'",
    needs_model=False,
    skip_if=_scripted_only(
        "a code interpreter call",
        "a model makes only with a hosted tool a server need not offer, and only when it "
        "chooses to",
    ),
)
async def code_interpreter_call(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create(f"rws:code chunks=6 code={_CODE}"))
    if not expect_run_status(ctx, run, "completed", "RWS-DELTA-5", what="code interpreter run"):
        return
    _expect_text(ctx, run, "response.code_interpreter_call_code.delta", _CODE, 6)
    _expect_items(ctx, run, "code_interpreter_call", {"code": _CODE, "status": "completed"})


# The annotated text: 90 characters in 6 deltas of 15, 4 annotations; cut at 10 tokens (40
# characters), the text keeps the one annotation that ends within it (A.5).
_TEXT_LENGTH, _TEXT_CHUNKS, _ANNOTATIONS, _TEXT_BUDGET = 90, 6, 4, 10
_ANNOTATED = f"rws:text length={_TEXT_LENGTH} chunks={_TEXT_CHUNKS} annotations={_ANNOTATIONS}"
_ANNOTATION_RULES = (
    "RWS-DELTA-7",
    "RWS-DELTA-1",
    "RWS-DELTA-2",
    "RWS-ORDER-6",
    "RWS-MODEL-2",
    *GRAMMAR,
)


def _expect_annotations(ctx: ScenarioContext, run: Outcome, length: int, what: str) -> None:
    """Expect the final part's annotations and their announcements of a text cut to
    ``length`` characters (RWS-MODEL-2, A.4, A.5)."""
    spans = [s for s in annotation_spans(_TEXT_LENGTH, _ANNOTATIONS) if s[1] <= length]
    want = [annotation(j, span) for j, span in enumerate(spans)]
    parts = [
        part
        for item in output_items(run)
        for part in item.get("content") or []
        if isinstance(part, Mapping)
    ]
    listed = [part.get("annotations") for part in parts]
    ctx.expect(
        "RWS-MODEL-2", listed == [want], f"{what}: final annotations {listed}, want {[want]}"
    )
    # Where each annotation was announced: after how many of the text's deltas.
    seen = 0
    announced: list[tuple[Any, int]] = []
    for event in run.events:
        if event.get("type") == "response.output_text.delta":
            seen += 1
        elif event.get("type") == "response.output_text.annotation.added":
            announced.append((event.get("annotation_index"), seen))
    sizes = chunk_sizes(length, _TEXT_CHUNKS)
    expected = list(enumerate(announced_after(sizes, spans)))
    ctx.expect(
        "RWS-MODEL-2",
        announced == expected,
        f"{what}: (annotation_index, deltas before it) {announced}, expected {expected}",
    )


# RWS-DELTA-7 (E10): each announced annotation is the one its final part lists at its index.
@scenario(
    "stream.annotations",
    "each announced annotation appears at its annotation_index in the final part, complete "
    "or cut by max_output_tokens",
    requirements=_ANNOTATION_RULES,
    drives=f"'{_ANNOTATED}', then the same with max_output_tokens {_TEXT_BUDGET}",
    needs_model=False,
    skip_if=_scripted_only(
        "annotated output text",
        "a model produces only with a search tool a server need not offer, and only when it "
        "chooses to cite",
    ),
)
async def annotated_text(ctx: ScenarioContext) -> None:
    conn = await ctx.connect()
    run = await ctx.request(conn, ctx.create(_ANNOTATED))
    if not expect_run_status(ctx, run, "completed", "RWS-DELTA-7", what="annotated text run"):
        return
    texts = run.output_texts()
    ctx.expect("RWS-MODEL-2", texts == [pattern(_TEXT_LENGTH)], f"output text {texts!r}")
    _expect_annotations(ctx, run, _TEXT_LENGTH, "the annotated text")
    cut = await ctx.request(
        conn,
        ctx.create(_ANNOTATED, max_output_tokens=_TEXT_BUDGET),
        what=f"the annotated text with max_output_tokens {_TEXT_BUDGET}",
    )
    if not expect_run_status(ctx, cut, "incomplete", "RWS-MODEL-2", what="cut annotated text"):
        return
    kept = 4 * _TEXT_BUDGET  # bytes, and characters: the pattern is ASCII
    texts = cut.output_texts()
    ctx.expect("RWS-MODEL-2", texts == [pattern(kept)], f"cut output text {texts!r}")
    _expect_annotations(ctx, cut, kept, "the cut text")
