"""Tests of the ``conformance-1`` directives for tool calls whose text is streamed and for
annotations: ``rws:custom``, ``rws:mcp``, ``rws:code`` and ``rws:text ... annotations=M``
(appendix A.2 usage, A.3 directives and ``P``, A.4 events, A.5 cuts and limits).
"""

from __future__ import annotations

from typing import Any

import pytest

from reference_impl.model import (
    MAX_RUN_CHARACTERS,
    MAX_RUN_DELTAS,
    GeneratedRun,
    ModelLimitError,
    build_context,
    normalize_input,
    pattern,
    tokens,
)
from tests.reference_impl.test_model_run import deltas, of_type, run, run_on, types

__all__: list[str] = []


def _item_types(result: GeneratedRun) -> list[str]:
    """The event types between the first output_item.added and the last output_item.done."""
    names = types(result)
    return names[names.index("response.output_item.added") : -1]


class TestCustomDirective:
    """A.3 rws:custom: a custom_tool_call whose input is the text as written, in K deltas."""

    def test_custom_streams_input_exactly_as_written(self) -> None:
        """Input deltas in K pieces, its done event, and the item with a call_id."""
        result = run("rws:custom name=run_shell chunks=3 input=ls -la  | wc -l")
        assert deltas(result, "response.custom_tool_call_input.delta") == [
            "ls -l",
            "a  | ",
            "wc -l",
        ]
        assert _item_types(result) == [
            "response.output_item.added",
            *["response.custom_tool_call_input.delta"] * 3,
            "response.custom_tool_call_input.done",
            "response.output_item.done",
        ]
        (done,) = of_type(result, "response.custom_tool_call_input.done")
        assert done["input"] == "ls -la  | wc -l"
        added = of_type(result, "response.output_item.added")[0]["item"]
        assert (added["input"], added["status"]) == ("", "in_progress")
        (item,) = result.output
        assert item["id"].startswith("ctc_")
        assert item["id"] == done["item_id"] == added["id"]
        assert item["call_id"].startswith("call_")
        assert item == {
            "id": item["id"],
            "type": "custom_tool_call",
            "call_id": added["call_id"],
            "name": "run_shell",
            "input": "ls -la  | wc -l",
            "status": "completed",
        }

    def test_custom_with_empty_input_sends_no_delta(self) -> None:
        """Default input: the empty text, no delta, a done event with the empty input."""
        result = run("rws:custom name=noop")
        assert deltas(result, "response.custom_tool_call_input.delta") == []
        assert of_type(result, "response.custom_tool_call_input.done")[0]["input"] == ""

    def test_custom_tool_call_output_counts_in_p(self) -> None:
        """A.3: P counts custom_tool_call_output items: the call is skipped and the reply
        names the output."""
        first = run("rws:custom name=run_shell input=ls")
        call = first.output[0]
        answer = {"type": "custom_tool_call_output", "call_id": call["call_id"], "output": "a b"}
        context = build_context(
            normalize_input("rws:custom name=run_shell input=ls"), first.output, [answer]
        )
        second = run_on(context)
        assert [item["type"] for item in second.output] == ["message"]
        assert second.output[0]["content"][0]["text"] == "received 1 tool outputs"

    def test_function_and_custom_outputs_count_together(self) -> None:
        """Both kinds of tool output after the latest user message make up P."""
        context = [
            *normalize_input("rws:loop calls=2 name=f"),
            {"type": "function_call_output", "call_id": "call_1", "output": ""},
            {"type": "custom_tool_call_output", "call_id": "call_2", "output": ""},
        ]
        assert run_on(context).output[0]["content"][0]["text"] == "loop done after 2 calls"


class TestMcpDirective:
    """A.3 rws:mcp: an mcp_call with the arguments as written, between its hosted-tool events."""

    def test_mcp_call_follows_its_grammar(self) -> None:
        """in_progress, the argument deltas, done, completed; the item names server and tool."""
        arguments = '{"query": "a b", "n": 2}'
        result = run(f"rws:mcp server=docs name=search chunks=2 arguments={arguments}")
        assert _item_types(result) == [
            "response.output_item.added",
            "response.mcp_call.in_progress",
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.done",
            "response.mcp_call.completed",
            "response.output_item.done",
        ]
        assert "".join(deltas(result, "response.mcp_call_arguments.delta")) == arguments
        (item,) = result.output
        assert item["id"].startswith("mcp_")
        assert item == {
            "id": item["id"],
            "type": "mcp_call",
            "server_label": "docs",
            "name": "search",
            "arguments": arguments,
            "output": None,
            "error": None,
            "status": "completed",
        }
        added = of_type(result, "response.output_item.added")[0]["item"]
        assert {**added, "arguments": arguments, "status": "completed"} == item
        assert all(e["item_id"] == item["id"] for e in result.events if "item_id" in e)

    def test_mcp_defaults(self) -> None:
        """A.5: server and name empty, arguments {}."""
        (item,) = run("rws:mcp").output
        assert (item["server_label"], item["name"], item["arguments"]) == ("", "", "{}")

    def test_cut_mcp_call_is_not_made(self) -> None:
        """A.5: arguments cut by max_output_tokens: mcp_call.failed, the item incomplete."""
        result = run('rws:mcp server=s name=t arguments={"q": "long text"}', max_output_tokens=2)
        assert "response.mcp_call.failed" in types(result)
        assert "response.mcp_call.completed" not in types(result)
        (item,) = result.output
        assert (item["arguments"], item["status"]) == ('{"q": "l', "incomplete")
        assert result.status == "incomplete"

    def test_mcp_call_under_incomplete_keeps_its_arguments(self) -> None:
        """A.5: under rws:incomplete nothing is cut, so the call completes; the item ends
        incomplete."""
        result = run("rws:mcp name=t arguments={}\nrws:incomplete")
        assert "response.mcp_call.completed" in types(result)
        assert result.output[0]["status"] == "incomplete"


class TestCodeDirective:
    """A.3 rws:code: a code_interpreter_call whose code is the text as written."""

    def test_code_interpreter_call_follows_its_grammar(self) -> None:
        """in_progress, the code deltas, done, interpreting, completed; a container per call."""
        result = run("rws:code chunks=2 code=print(1 + 2)\nrws:code code=x")
        first = result.output[0]
        assert _item_types(result)[
            : _item_types(result).index("response.output_item.done") + 1
        ] == [
            "response.output_item.added",
            "response.code_interpreter_call.in_progress",
            "response.code_interpreter_call_code.delta",
            "response.code_interpreter_call_code.delta",
            "response.code_interpreter_call_code.done",
            "response.code_interpreter_call.interpreting",
            "response.code_interpreter_call.completed",
            "response.output_item.done",
        ]
        assert first["id"].startswith("ci_")
        assert first["container_id"].startswith("cntr_")
        assert first == {
            "id": first["id"],
            "type": "code_interpreter_call",
            "container_id": first["container_id"],
            "code": "print(1 + 2)",
            "outputs": None,
            "status": "completed",
        }
        assert result.output[1]["container_id"] != first["container_id"]

    def test_cut_code_still_ends_with_completed(self) -> None:
        """A.5: the grammar has no other ending: interpreting and completed, item incomplete."""
        result = run("rws:code code=print('hello world')", max_output_tokens=1)
        assert _item_types(result)[-3:] == [
            "response.code_interpreter_call.interpreting",
            "response.code_interpreter_call.completed",
            "response.output_item.done",
        ]
        assert (result.output[0]["code"], result.output[0]["status"]) == ("prin", "incomplete")


class TestCallDirectivesAndP:
    """A.3: every call directive applies only while P = 0."""

    @pytest.mark.parametrize(
        "line", ["rws:call name=f", "rws:custom name=f", "rws:mcp name=f", "rws:code code=1"]
    )
    def test_call_directives_are_skipped_once_a_tool_output_follows(self, line: str) -> None:
        context = [
            *normalize_input(line),
            {"type": "function_call_output", "call_id": "call_1", "output": ""},
        ]
        assert run_on(context).output[0]["content"][0]["text"] == "received 1 tool outputs"


def _annotation(index: int, start: int, end: int) -> dict[str, Any]:
    return {
        "type": "url_citation",
        "start_index": start,
        "end_index": end,
        "title": f"source {index}",
        "url": f"https://example.com/conformance-1/{index}",
    }


class TestAnnotations:
    """A.4 rws:text annotations=M: M url_citation annotations, each announced once its text
    has been streamed, all listed in the final part."""

    def test_annotations_are_announced_after_the_delta_that_reaches_them(self) -> None:
        """20 characters in 4 deltas of 5, 3 annotations ending at 6, 13 and 20."""
        result = run("rws:text length=20 chunks=4 annotations=3")
        want = [_annotation(0, 0, 6), _annotation(1, 6, 13), _annotation(2, 13, 20)]
        part_events = [
            (e["type"].removeprefix("response.output_text."), e.get("annotation_index"))
            for e in result.events
            if e["type"].startswith("response.output_text.")
        ]
        assert part_events == [
            ("delta", None),
            ("delta", None),
            ("annotation.added", 0),
            ("delta", None),
            ("annotation.added", 1),
            ("delta", None),
            ("annotation.added", 2),
            ("done", None),
        ]
        assert [
            e["annotation"] for e in of_type(result, "response.output_text.annotation.added")
        ] == want
        added = of_type(result, "response.content_part.added")[0]["part"]
        assert added["annotations"] == []
        (part_done,) = of_type(result, "response.content_part.done")
        assert part_done["part"]["annotations"] == want
        assert result.output[0]["content"][0]["annotations"] == want
        assert result.response["output"][0]["content"][0]["annotations"] == want

    def test_annotations_ending_at_zero_come_before_the_first_delta(self) -> None:
        """More annotations than characters: the empty spans are announced at once."""
        result = run("rws:text length=1 annotations=3")
        kinds = [
            t.removeprefix("response.output_text.") for t in types(result) if ".output_text." in t
        ]
        assert kinds == [
            "annotation.added",
            "annotation.added",
            "delta",
            "annotation.added",
            "done",
        ]
        spans = [
            (a["start_index"], a["end_index"])
            for a in result.output[0]["content"][0]["annotations"]
        ]
        assert spans == [(0, 0), (0, 0), (0, 1)]

    def test_cut_text_keeps_the_annotations_within_it(self) -> None:
        """A.5: a text cut at 40 characters keeps the one annotation ending at 22."""
        result = run("rws:text length=90 chunks=6 annotations=4", max_output_tokens=10)
        assert result.status == "incomplete"
        assert result.output[0]["content"][0]["text"] == pattern(40)
        assert result.output[0]["content"][0]["annotations"] == [_annotation(0, 0, 22)]
        assert len(of_type(result, "response.output_text.annotation.added")) == 1

    def test_annotations_count_no_tokens(self) -> None:
        """A.2: only the text counts as output tokens."""
        result = run("rws:text length=30 annotations=5")
        assert result.response["usage"]["output_tokens"] == tokens(pattern(30))


def test_generated_tool_texts_count_as_output_tokens() -> None:
    """A.2: custom tool input, MCP arguments and code count as output tokens."""
    result = run(
        'rws:custom name=a input=ls -la\nrws:mcp name=b arguments={"x": 1}\nrws:code code=print(1)'
    )
    usage = result.response["usage"]
    assert usage["output_tokens"] == tokens("ls -la") + tokens('{"x": 1}') + tokens("print(1)")
    assert usage["output_tokens_details"]["reasoning_tokens"] == 0


def test_failed_run_counts_the_tool_text_sent() -> None:
    """A.5: a run failed in the middle of an MCP call's deltas counts the deltas sent and
    lists no unfinished item."""
    result = run("rws:mcp name=t chunks=4 arguments=abcdefgh\nrws:fail after=5")
    assert result.status == "failed"
    assert result.output == ()
    assert "".join(deltas(result, "response.mcp_call_arguments.delta")) == "ab"
    assert result.response["usage"]["output_tokens"] == tokens("ab")


class TestLimits:
    """A.5: tool texts count toward the characters, annotations toward the deltas."""

    @pytest.mark.parametrize("verb", ["custom name=f input", "mcp arguments", "code code"])
    def test_tool_texts_count_toward_the_characters(self, verb: str) -> None:
        with pytest.raises(ModelLimitError, match="characters"):
            run(f"rws:{verb}={'x' * (MAX_RUN_CHARACTERS + 1)}")

    def test_annotations_count_toward_the_deltas(self) -> None:
        with pytest.raises(ModelLimitError, match=f"{MAX_RUN_DELTAS + 1} deltas"):
            run(f"rws:text length=1 annotations={MAX_RUN_DELTAS}")
