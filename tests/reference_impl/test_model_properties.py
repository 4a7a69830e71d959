"""Property tests of the ``conformance-1`` model: for any combination of directives the stream
obeys the delta equalities (RWS-DELTA-1..8), the terminal output equals the item-done
items, and ``output_index``, ``content_index``, ``summary_index`` and ``annotation_index``
count from 0 without gaps.

The checker here re-derives everything from the events alone, the way a client would.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reference_impl.model import GeneratedRun, generate_run, normalize_input, tokens

__all__: list[str] = []

SKELETON: dict[str, Any] = {
    "id": "resp_prop",
    "object": "response",
    "created_at": 1,
    "model": "conformance-1",
    "status": "in_progress",
    "output": [],
    "usage": None,
}

_counts = st.integers(min_value=0, max_value=60)
_chunks = st.integers(min_value=0, max_value=12)
_names = st.from_regex(r"[a-z_]{1,10}", fullmatch=True)
# Arguments are the rest of a line: anything but a line break, multi-byte characters included.
_arguments = st.text(st.characters(exclude_characters="\n\r"), max_size=40)

_lines = st.one_of(
    st.builds("rws:text length={} chunks={}".format, _counts, _chunks),
    st.builds(
        "rws:text length={} chunks={} annotations={}".format, _counts, _chunks, st.integers(0, 6)
    ),
    st.builds("rws:refusal length={} chunks={}".format, _counts, _chunks),
    st.builds("rws:reasoning summary={} text={} chunks={}".format, _counts, _counts, _chunks),
    st.builds("rws:call name={} chunks={} arguments={}".format, _names, _chunks, _arguments),
    st.builds("rws:custom name={} chunks={} input={}".format, _names, _chunks, _arguments),
    st.builds(
        "rws:mcp server={} name={} chunks={} arguments={}".format,
        _names,
        _names,
        _chunks,
        _arguments,
    ),
    st.builds("rws:code chunks={} code={}".format, _chunks, _arguments),
    st.builds(
        "rws:loop calls={} name={} arguments={}".format, st.integers(0, 3), _names, _arguments
    ),
    st.just("rws:context"),
    st.just("rws:incomplete"),
    st.builds("rws:fail after={}".format, st.integers(0, 40)),
    st.builds("rws:delay ms={}".format, st.integers(0, 1000)),
    st.just("some prose that is not a directive"),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A context (a user message of directive lines, then P tool outputs) and a request."""
    text = "\n".join(draw(st.lists(_lines, max_size=8)))
    kinds = st.sampled_from(["function_call_output", "custom_tool_call_output"])
    outputs = [
        {"type": draw(kinds), "call_id": f"call_{i}", "output": "x"}
        for i in range(draw(st.integers(0, 3)))
    ]
    request: dict[str, Any] = {}
    if draw(st.booleans()):
        request["max_output_tokens"] = draw(st.integers(0, 40))
    if draw(st.integers(0, 9)) == 0:
        request["generate"] = False
    if draw(st.booleans()):
        request["instructions"] = draw(st.text(max_size=20))
    return [*normalize_input(text), *outputs], request


def generate(
    context: list[dict[str, Any]], request: dict[str, Any], restored_items: int = 0
) -> GeneratedRun:
    counter = itertools.count()
    return generate_run(
        response=SKELETON,
        context=context,
        request=request,
        restored_items=restored_items,
        ids=lambda prefix: f"{prefix}_{next(counter)}",
    )


@dataclass
class _ItemState:
    """What a client accumulates for one output item."""

    item: dict[str, Any]
    texts: dict[tuple[str, int], str] = field(default_factory=dict)
    done: dict[tuple[str, int], str] = field(default_factory=dict)
    part_order: dict[str, list[int]] = field(default_factory=dict)
    annotations: dict[int, list[Any]] = field(default_factory=dict)
    hosted: list[str] = field(default_factory=list)


_DELTA_KIND = {
    "response.output_text.delta": ("content", "content_index"),
    "response.refusal.delta": ("content", "content_index"),
    "response.reasoning_text.delta": ("content", "content_index"),
    "response.reasoning_summary_text.delta": ("summary", "summary_index"),
    "response.function_call_arguments.delta": ("arguments", None),
    "response.custom_tool_call_input.delta": ("arguments", None),
    "response.mcp_call_arguments.delta": ("arguments", None),
    "response.code_interpreter_call_code.delta": ("arguments", None),
}
_DONE_KIND = {
    "response.output_text.done": ("content", "content_index", "text"),
    "response.refusal.done": ("content", "content_index", "refusal"),
    "response.reasoning_text.done": ("content", "content_index", "text"),
    "response.reasoning_summary_text.done": ("summary", "summary_index", "text"),
    "response.function_call_arguments.done": ("arguments", None, "arguments"),
    "response.custom_tool_call_input.done": ("arguments", None, "input"),
    "response.mcp_call_arguments.done": ("arguments", None, "arguments"),
    "response.code_interpreter_call_code.done": ("arguments", None, "code"),
}
# The field of each tool call item holding its streamed text.
_TOOL_FIELD = {
    "function_call": "arguments",
    "custom_tool_call": "input",
    "mcp_call": "arguments",
    "code_interpreter_call": "code",
}
# The status events of the hosted tool calls, in the order of their grammar (the text's
# deltas and done event come after the first of them).
_HOSTED = {
    "mcp_call": (
        ["response.mcp_call.in_progress", "response.mcp_call.completed"],
        ["response.mcp_call.in_progress", "response.mcp_call.failed"],
    ),
    "code_interpreter_call": (
        [
            "response.code_interpreter_call.in_progress",
            "response.code_interpreter_call.interpreting",
            "response.code_interpreter_call.completed",
        ],
    ),
}


def _part_text(part: Mapping[str, Any]) -> str:
    return str(part["refusal"] if part["type"] == "refusal" else part["text"])


def check_stream(result: GeneratedRun) -> list[dict[str, Any]]:
    """Check the run's stream as a client would; return the item-done items in order."""
    events = result.events
    assert events[0]["type"] == "response.created"
    terminal = events[-1]
    assert terminal["type"] == f"response.{result.status}"
    assert all(
        e["type"] not in {"response.completed", "response.incomplete", "response.failed"}
        for e in events[:-1]
    )
    items: dict[int, _ItemState] = {}
    done_items: list[dict[str, Any]] = []
    for event in events[1:-1]:
        kind = event["type"]
        if kind == "response.in_progress":
            continue
        index = event["output_index"]
        if kind == "response.output_item.added":
            # output_index counts from 0 without gaps, one item at a time.
            assert index == len(items)
            assert all(i in {*range(len(done_items))} for i in items)
            assert event["item"]["status"] == "in_progress"
            items[index] = _ItemState(item=event["item"])
            continue
        state = items[index]
        item_id = state.item["id"]
        if kind == "response.output_item.done":
            # RWS-DELTA-8: same id and type, status no longer in_progress.
            final = event["item"]
            assert (final["id"], final["type"]) == (item_id, state.item["type"])
            assert final["status"] in {"completed", "incomplete"}
            if final["type"] == "message":
                assert [_part_text(p) for p in final["content"]] == [
                    state.done[("content", i)] for i in range(len(final["content"]))
                ]
            elif final["type"] == "reasoning":
                assert [p["text"] for p in final["summary"]] == [
                    state.done[("summary", i)] for i in range(len(final["summary"]))
                ]
                assert [p["text"] for p in final["content"]] == [
                    state.done[("content", i)] for i in range(len(final["content"]))
                ]
            else:
                assert final[_TOOL_FIELD[final["type"]]] == state.done[("arguments", 0)]
                if final["type"] in _HOSTED:
                    assert state.hosted in _HOSTED[final["type"]]
                    # A.5: an MCP call fails exactly when its arguments were cut.
                    if state.hosted[-1] == "response.mcp_call.failed":
                        assert final["status"] == "incomplete"
            if final["type"] == "message":
                for position, part in enumerate(final["content"]):
                    # RWS-DELTA-7: the announced annotations are the final part's, in order.
                    assert part.get("annotations", []) == state.annotations.get(position, [])
            done_items.append(final)
            continue
        assert event["item_id"] == item_id
        if kind.startswith(("response.mcp_call.", "response.code_interpreter_call.")):
            state.hosted.append(kind)
        elif kind == "response.output_text.annotation.added":
            announced = state.annotations.setdefault(event["content_index"], [])
            assert event["annotation_index"] == len(announced)
            # Announced once the text it spans has been streamed, before the text is done.
            assert event["annotation"]["end_index"] <= len(
                state.texts[("content", event["content_index"])]
            )
            assert ("content", event["content_index"]) not in state.done
            announced.append(event["annotation"])
        elif kind in {"response.content_part.added", "response.reasoning_summary_part.added"}:
            family = "content" if kind == "response.content_part.added" else "summary"
            position = event["content_index" if family == "content" else "summary_index"]
            # Part indexes count from 0 without gaps, per item and family.
            order = state.part_order.setdefault(family, [])
            assert position == len(order)
            order.append(position)
            # RWS-DELTA-2: the added part is the empty initial part.
            assert _part_text(event["part"]) == ""
            assert event["part"].get("annotations", []) == []
            state.texts[(family, position)] = ""
        elif kind in _DELTA_KIND:
            family, key = _DELTA_KIND[kind]
            position = 0 if key is None else event[key]
            if family == "arguments":
                state.texts.setdefault((family, 0), "")
            state.texts[(family, position)] += event["delta"]
        elif kind in _DONE_KIND:
            family, key, text_field = _DONE_KIND[kind]
            position = 0 if key is None else event[key]
            # RWS-DELTA-1/3/4/6: the deltas concatenate to the done text.
            assert state.texts.get((family, position), "") == event[text_field]
            state.done[(family, position)] = event[text_field]
        elif kind in {"response.content_part.done", "response.reasoning_summary_part.done"}:
            family = "content" if kind == "response.content_part.done" else "summary"
            position = event["content_index" if family == "content" else "summary_index"]
            assert _part_text(event["part"]) == state.done[(family, position)]
            if family == "content":
                assert event["part"].get("annotations", []) == state.annotations.get(position, [])
        else:  # pragma: no cover - the model emits no other event types
            raise AssertionError(f"unexpected event {kind}")
    return done_items


@settings(deadline=None, max_examples=300)
@given(scenarios(), st.data())
def test_any_directives_give_a_consistent_stream(
    scenario: tuple[list[dict[str, Any]], dict[str, Any]], data: st.DataObject
) -> None:
    """Deltas equal done texts, terminal output equals the item-done items, indexes are dense."""
    context, request = scenario
    restored = data.draw(st.integers(0, len(context)), label="restored_items")
    result = generate(context, request, restored)
    done_items = check_stream(result)
    # The terminal output lists exactly the item-done items in output_index order.
    assert result.response["output"] == done_items
    assert list(result.output) == done_items
    assert result.events[-1]["response"] == result.response
    # Only the last item may end incomplete, and then the run is incomplete (or failed).
    statuses = [item["status"] for item in done_items]
    assert "incomplete" not in statuses[:-1]
    if result.status == "completed":
        assert "incomplete" not in statuses
    if statuses and statuses[-1] == "incomplete":
        assert result.status in {"incomplete", "failed"}
    usage = result.response["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens"] == tokens(context) + tokens(request.get("instructions") or "")
    # RWS-MODEL-3: cached tokens are those of the restored prefix, 0 when nothing was restored.
    cached = usage["input_tokens_details"]["cached_tokens"]
    assert cached == (tokens(context[:restored]) if restored else 0)
    assert cached <= usage["input_tokens"]
    if result.status != "failed":
        generated = (
            [_part_text(p) for item in done_items for p in item.get("content", [])]
            + [p["text"] for item in done_items for p in item.get("summary", [])]
            + [
                item[_TOOL_FIELD[item["type"]]]
                for item in done_items
                if item["type"] in _TOOL_FIELD
            ]
        )
        assert usage["output_tokens"] == sum(tokens(text) for text in generated)
    budget = request.get("max_output_tokens")
    if budget is not None:
        assert usage["output_tokens"] <= budget
    if request.get("generate") is False:
        assert done_items == []
        assert usage["output_tokens"] == 0


@given(scenarios())
def test_same_inputs_give_the_same_run(
    scenario: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    """The model is a function of its inputs and the ids it is given."""
    context, request = scenario
    assert generate(context, request) == generate(context, request)
