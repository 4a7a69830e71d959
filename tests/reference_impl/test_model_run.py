"""Tests of one run of the ``conformance-1`` model: one per directive and per rule of the appendix
(A.2 usage, A.3 directives, defaults and limits, A.4 the event grammar).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from reference_impl.model import (
    MAX_RUN_CHARACTERS,
    MAX_RUN_DELTAS,
    MODEL_ID,
    GeneratedRun,
    ModelLimitError,
    build_context,
    generate_run,
    normalize_input,
    pattern,
    tokens,
)

__all__: list[str] = []

SKELETON: dict[str, Any] = {
    "id": "resp_test",
    "object": "response",
    "created_at": 1_700_000_000,
    "model": MODEL_ID,
    "status": "in_progress",
    "output": [],
    "previous_response_id": None,
    "instructions": None,
    "store": True,
    "max_output_tokens": None,
    "usage": None,
}


class Ids:
    """A deterministic id source: ``<prefix>_000001``, ``<prefix>_000002``, ..."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}"


def run_on(
    context: Sequence[Mapping[str, Any]],
    *,
    request: Mapping[str, Any] | None = None,
    restored_items: int = 0,
) -> GeneratedRun:
    return generate_run(
        response=SKELETON,
        context=context,
        request=request or {},
        restored_items=restored_items,
        ids=Ids(),
    )


def run(text: str, **request: Any) -> GeneratedRun:
    """Run the model on a first turn whose input is ``text``."""
    return run_on(normalize_input(text), request=request)


def types(result: GeneratedRun) -> list[str]:
    return [event["type"] for event in result.events]


def of_type(result: GeneratedRun, event_type: str) -> list[dict[str, Any]]:
    return [event for event in result.events if event["type"] == event_type]


def deltas(result: GeneratedRun, event_type: str) -> list[str]:
    return [event["delta"] for event in of_type(result, event_type)]


class TestTextDirective:
    """A.3 rws:text: a message with one output_text part of pattern(N) in K deltas."""

    def test_text_directive_streams_pattern_in_k_deltas(self) -> None:
        """length=10 chunks=4: deltas of 3, 3, 2, 2 characters of the pattern."""
        result = run("rws:text length=10 chunks=4")
        assert deltas(result, "response.output_text.delta") == ["The", " qu", "ic", "k "]
        assert of_type(result, "response.output_text.done")[0]["text"] == "The quick "
        assert result.output[0]["content"] == [
            {"type": "output_text", "annotations": [], "logprobs": [], "text": "The quick "}
        ]

    def test_text_run_uses_the_full_message_grammar(self) -> None:
        """A.4: lifecycle, item added, part added, deltas, text/part/item done, completed."""
        assert types(run("rws:text length=5 chunks=2")) == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]

    def test_message_item_is_assistant_with_status_progression(self) -> None:
        """The added item is in_progress with no content; the done item completed with one part."""
        result = run("rws:text length=3")
        added = of_type(result, "response.output_item.added")[0]["item"]
        done = of_type(result, "response.output_item.done")[0]["item"]
        assert added == {
            "id": done["id"],
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        assert done["status"] == "completed"
        assert done["role"] == "assistant"
        assert done["id"].startswith("msg_")

    def test_text_deltas_carry_indexes_and_empty_logprobs(self) -> None:
        """Text deltas name the item, output_index, content_index and carry logprobs []."""
        result = run("rws:text length=2")
        (delta,) = of_type(result, "response.output_text.delta")
        assert delta == {
            "type": "response.output_text.delta",
            "item_id": result.output[0]["id"],
            "output_index": 0,
            "content_index": 0,
            "delta": "Th",
            "logprobs": [],
        }

    def test_text_of_length_zero_has_no_delta(self) -> None:
        """length=0: the part exists and is empty, no delta event is sent."""
        result = run("rws:text length=0 chunks=3")
        assert deltas(result, "response.output_text.delta") == []
        assert of_type(result, "response.output_text.done")[0]["text"] == ""

    def test_chunks_are_capped_at_length(self) -> None:
        """chunks=10 for length=3: three one-character deltas."""
        assert deltas(run("rws:text length=3 chunks=10"), "response.output_text.delta") == [
            "T",
            "h",
            "e",
        ]


class TestRefusalDirective:
    """A.3 rws:refusal: a message with one refusal part in K deltas."""

    def test_refusal_streams_refusal_part(self) -> None:
        """Refusal deltas, refusal done and the refusal part, empty when added."""
        result = run("rws:refusal length=7 chunks=2")
        assert deltas(result, "response.refusal.delta") == ["The ", "qui"]
        assert of_type(result, "response.refusal.done")[0]["refusal"] == "The qui"
        added, done = (
            e["part"] for e in result.events if e["type"].startswith("response.content_part")
        )
        assert added == {"type": "refusal", "refusal": ""}
        assert done == {"type": "refusal", "refusal": "The qui"}
        assert result.output[0]["content"] == [done]
        assert "response.output_text.delta" not in types(result)


class TestReasoningDirective:
    """A.3 rws:reasoning: one summary part and, when text > 0, one reasoning_text part."""

    def test_reasoning_with_summary_and_text(self) -> None:
        """Summary and text each in K deltas, with their part events, in grammar order."""
        result = run("rws:reasoning summary=5 text=4 chunks=2")
        assert types(result)[2:-1] == [
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.content_part.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.content_part.done",
            "response.output_item.done",
        ]
        assert deltas(result, "response.reasoning_summary_text.delta") == ["The", " q"]
        assert deltas(result, "response.reasoning_text.delta") == ["Th", "e "]
        item = result.output[0]
        assert item["id"].startswith("rs_")
        assert item["summary"] == [{"type": "summary_text", "text": "The q"}]
        assert item["content"] == [{"type": "reasoning_text", "text": "The "}]
        summary_added = of_type(result, "response.reasoning_summary_part.added")[0]
        assert summary_added["part"] == {"type": "summary_text", "text": ""}
        assert summary_added["summary_index"] == 0
        assert "status" not in of_type(result, "response.reasoning_summary_part.done")[0]

    def test_reasoning_without_text_has_no_content_part(self) -> None:
        """text=0: only the summary part."""
        result = run("rws:reasoning summary=3")
        assert "response.content_part.added" not in types(result)
        assert result.output[0]["content"] == []

    def test_reasoning_counts_as_reasoning_tokens(self) -> None:
        """Summary and reasoning text tokens are output tokens and reasoning tokens."""
        result = run("rws:reasoning summary=9 text=5\nrws:text length=4")
        # summary 9 chars -> 3, text 5 -> 2, message 4 -> 1
        assert result.response["usage"]["output_tokens"] == 6
        assert result.response["usage"]["output_tokens_details"] == {"reasoning_tokens": 5}


class TestCallDirective:
    """A.3 rws:call: a function_call with the arguments exactly as written, only while P = 0."""

    def test_call_streams_arguments_exactly_as_written(self) -> None:
        """Arguments deltas in K pieces, done with name and arguments, item with a call_id."""
        result = run('rws:call name=get_weather chunks=3 arguments={"city": "Paris"}')
        assert deltas(result, "response.function_call_arguments.delta") == [
            '{"city',
            '": "Pa',
            'ris"}',
        ]
        (done,) = of_type(result, "response.function_call_arguments.done")
        assert done["arguments"] == '{"city": "Paris"}'
        assert done["name"] == "get_weather"
        added = of_type(result, "response.output_item.added")[0]["item"]
        assert added["arguments"] == ""
        assert added["status"] == "in_progress"
        (item,) = result.output
        assert item["type"] == "function_call"
        assert item["id"].startswith("fc_")
        assert item["call_id"].startswith("call_")
        assert item["call_id"] == added["call_id"]
        assert item["name"] == "get_weather"
        assert item["arguments"] == '{"city": "Paris"}'
        assert item["status"] == "completed"

    def test_call_is_skipped_once_a_tool_output_follows(self) -> None:
        """P > 0: rws:call is skipped and the default reply names P."""
        first = run("rws:call name=f arguments={}")
        call = first.output[0]
        context = build_context(
            normalize_input("rws:call name=f arguments={}"),
            first.output,
            normalize_input(
                [{"type": "function_call_output", "call_id": call["call_id"], "output": "1"}]
            ),
        )
        second = run_on(context)
        assert [item["type"] for item in second.output] == ["message"]
        assert second.output[0]["content"][0]["text"] == "received 1 tool outputs"


class TestLoopDirective:
    """A.3 rws:loop: a call while P < N, then 'loop done after N calls'."""

    def test_loop_calls_until_p_reaches_n(self) -> None:
        """Three turns of calls=2: call, call, then the done message."""
        user = normalize_input('rws:loop calls=2 name=step arguments={"n": 1}')
        context: Sequence[Mapping[str, Any]] = user
        kinds: list[str] = []
        for _ in range(3):
            result = run_on(context)
            kinds.append(result.output[0]["type"])
            if result.output[0]["type"] == "function_call":
                assert result.output[0]["name"] == "step"
                assert result.output[0]["arguments"] == '{"n": 1}'
                output = {
                    "type": "function_call_output",
                    "call_id": result.output[0]["call_id"],
                    "output": "ok",
                }
                context = build_context(context, result.output, [output])
        assert kinds == ["function_call", "function_call", "message"]
        assert result.output[0]["content"][0]["text"] == "loop done after 2 calls"

    def test_loop_counts_only_outputs_after_latest_user_message(self) -> None:
        """A new user message resets P to 0."""
        old_turn = [
            {"type": "message", "role": "user", "content": "rws:loop calls=1 name=f"},
            {"type": "function_call", "call_id": "call_x", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_x", "output": ""},
        ]
        context = build_context(old_turn, [], normalize_input("rws:loop calls=1 name=g"))
        assert run_on(context).output[0]["name"] == "g"

    def test_loop_with_zero_calls_answers_at_once(self) -> None:
        """calls=0: P >= N already, the message comes without any call."""
        result = run("rws:loop calls=0 name=f")
        assert result.output[0]["content"][0]["text"] == "loop done after 0 calls"


class TestContextDirective:
    """A.3 rws:context: 'context items=<n> digest=<digest>'."""

    def test_context_message_reports_item_count_and_digest(self) -> None:
        """The digest is the SHA-256 of the canonical JSON of the whole run context."""
        context = build_context(
            [{"type": "message", "role": "user", "content": "earlier"}],
            [
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "annotations": [], "text": "ok"}],
                }
            ],
            normalize_input("rws:context"),
        )
        canonical = json.dumps(
            list(context), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        result = run_on(context)
        assert result.output[0]["content"][0]["text"] == f"context items=3 digest={digest}"


class TestIncompleteDirective:
    """A.3 rws:incomplete: the run ends incomplete after its first output item."""

    def test_incomplete_ends_after_first_item(self) -> None:
        """Only the first item is produced, with status incomplete; reason max_output_tokens."""
        result = run("rws:text length=4\nrws:text length=8\nrws:incomplete")
        assert result.status == "incomplete"
        assert len(result.output) == 1
        assert result.output[0]["status"] == "incomplete"
        assert result.output[0]["content"][0]["text"] == "The "
        assert result.events[-1]["type"] == "response.incomplete"
        assert result.response["incomplete_details"] == {"reason": "max_output_tokens"}
        assert result.response["completed_at"] is None

    def test_incomplete_applies_to_default_reply(self) -> None:
        """Without item directives the default 'ok' message is the incomplete first item."""
        result = run("rws:incomplete")
        assert result.output[0]["content"][0]["text"] == "ok"
        assert result.output[0]["status"] == "incomplete"


class TestFailDirective:
    """A.3 rws:fail after=N: response.failed after the run's N-th event."""

    def test_fail_cuts_after_nth_event(self) -> None:
        """after=5: five events of the run, then response.failed with server_error."""
        full = run("rws:text length=6 chunks=3")
        failed = run("rws:text length=6 chunks=3\nrws:fail after=5")
        assert types(failed) == [*types(full)[:5], "response.failed"]
        assert failed.status == "failed"
        assert failed.response["status"] == "failed"
        assert failed.response["error"]["code"] == "server_error"
        assert failed.response["error"]["message"]

    def test_failed_response_lists_only_finished_items(self) -> None:
        """Items whose output_item.done was not sent are not in the failed output."""
        result = run("rws:text length=1\nrws:text length=8 chunks=4\nrws:fail after=9")
        # events: created, in_progress, [added, part, delta, done, part done, item done], added
        assert types(result)[-2:] == ["response.output_item.added", "response.failed"]
        assert len(result.output) == 1
        assert result.response["output"] == list(result.output)

    def test_failed_usage_counts_the_text_sent(self) -> None:
        """Output tokens of a failed run are those of the deltas sent before the cut."""
        result = run("rws:text length=12 chunks=3\nrws:fail after=5")
        # created, in_progress, added, part added, first delta "The " (1 token)
        assert deltas(result, "response.output_text.delta") == ["The "]
        assert result.response["usage"]["output_tokens"] == 1

    def test_fail_after_one_fails_right_after_created(self) -> None:
        """after=1 (and after=0) keep only response.created."""
        assert types(run("rws:fail after=1")) == ["response.created", "response.failed"]
        assert types(run("rws:fail after=0")) == ["response.created", "response.failed"]

    def test_fail_beyond_run_length_replaces_terminal_event(self) -> None:
        """When the run has fewer events, response.failed takes the terminal's place."""
        full = run("rws:text length=2")
        result = run("rws:text length=2\nrws:fail after=99")
        assert types(result) == [*types(full)[:-1], "response.failed"]
        assert len(result.output) == 1


class TestDelayDirective:
    """A.3 rws:delay ms=N: a wait before every event after response.created."""

    def test_delay_is_reported_in_seconds(self) -> None:
        """ms=250 gives delay_s 0.25; without the directive no delay."""
        assert run("rws:delay ms=250").delay_s == 0.25
        assert run("hello").delay_s == 0.0

    def test_delay_does_not_change_the_events(self) -> None:
        """rws:delay is not an item directive: the default reply is sent."""
        assert run("rws:delay ms=5").output[0]["content"][0]["text"] == "ok"


class TestDefaults:
    """A.3: when no item directive applies, 'ok' or 'received <P> tool outputs'."""

    def test_plain_message_answers_ok(self) -> None:
        """No directive, P = 0: one message 'ok' in one delta."""
        result = run("What is the weather?")
        assert deltas(result, "response.output_text.delta") == ["ok"]
        assert result.status == "completed"

    def test_tool_outputs_are_counted_in_default_reply(self) -> None:
        """P = 2: 'received 2 tool outputs'."""
        context = [
            *normalize_input("hello"),
            {"type": "function_call_output", "call_id": "a", "output": "1"},
            {"type": "function_call_output", "call_id": "b", "output": "2"},
        ]
        assert run_on(context).output[0]["content"][0]["text"] == "received 2 tool outputs"

    def test_item_directives_keep_line_order(self) -> None:
        """Items come in the order of their lines, output_index from 0."""
        result = run(
            "rws:text length=1\nrws:reasoning summary=1\nrws:call name=f\nrws:refusal length=1"
        )
        assert [(i["type"], [c["type"] for c in i.get("content", [])]) for i in result.output] == [
            ("message", ["output_text"]),
            ("reasoning", []),
            ("function_call", []),
            ("message", ["refusal"]),
        ]
        added = of_type(result, "response.output_item.added")
        assert [e["output_index"] for e in added] == [0, 1, 2, 3]


class TestMaxOutputTokens:
    """A.3: output stopped at 4 * max_output_tokens bytes, item and run incomplete."""

    def test_text_is_cut_at_four_bytes_per_token(self) -> None:
        """length=100, max_output_tokens=10: 40 characters, incomplete."""
        result = run("rws:text length=100 chunks=7\nrws:text length=5", max_output_tokens=10)
        assert result.status == "incomplete"
        (item,) = result.output
        assert item["status"] == "incomplete"
        assert item["content"][0]["text"] == pattern(40)
        assert "".join(deltas(result, "response.output_text.delta")) == pattern(40)
        assert result.response["incomplete_details"] == {"reason": "max_output_tokens"}
        assert result.response["usage"]["output_tokens"] == 10

    def test_output_that_fits_exactly_is_not_cut(self) -> None:
        """40 characters are 10 tokens: max_output_tokens=10 does not stop them."""
        result = run("rws:text length=40", max_output_tokens=10)
        assert result.status == "completed"
        assert result.output[0]["content"][0]["text"] == pattern(40)

    def test_multibyte_text_is_cut_at_character_boundary(self) -> None:
        """8 bytes allowed: '{"s":"' is 6 bytes and the 4-byte emoji does not fit whole."""
        result = run('rws:call name=f arguments={"s":"😀😀"}', max_output_tokens=2)
        (item,) = result.output
        assert item["arguments"] == '{"s":"'
        assert item["status"] == "incomplete"
        assert of_type(result, "response.function_call_arguments.done")[0]["arguments"] == '{"s":"'
        assert result.status == "incomplete"

    def test_budget_spans_items_and_stops_later_items(self) -> None:
        """The first text spends the budget; the next is cut, and nothing follows it."""
        result = run(
            "rws:text length=8\nrws:text length=20\nrws:text length=3", max_output_tokens=4
        )
        assert [item["content"][0]["text"] for item in result.output] == [pattern(8), pattern(8)]
        assert [item["status"] for item in result.output] == ["completed", "incomplete"]

    def test_cut_reasoning_summary_is_marked_incomplete(self) -> None:
        """A cut summary part is done with status incomplete, and no reasoning text follows."""
        result = run("rws:reasoning summary=30 text=10", max_output_tokens=2)
        (summary_done,) = of_type(result, "response.reasoning_summary_part.done")
        assert summary_done["status"] == "incomplete"
        assert summary_done["part"]["text"] == pattern(8)
        assert "response.reasoning_text.delta" not in types(result)
        assert result.output[0]["content"] == []
        assert result.output[0]["status"] == "incomplete"


class TestGenerateFalse:
    """A.3: generate false produces no output, ignores directives, output_tokens 0."""

    def test_generate_false_is_created_in_progress_completed(self) -> None:
        """Three events, empty output, no directive applied (not even rws:fail or rws:delay)."""
        result = run("rws:text length=9\nrws:fail after=1\nrws:delay ms=9", generate=False)
        assert types(result) == ["response.created", "response.in_progress", "response.completed"]
        assert result.output == ()
        assert result.response["output"] == []
        assert result.delay_s == 0.0
        assert result.response["usage"]["output_tokens"] == 0
        assert result.response["usage"]["input_tokens"] == tokens(
            normalize_input("rws:text length=9\nrws:fail after=1\nrws:delay ms=9")
        )


class TestUsage:
    """A.2: usage from the context, the instructions, the cache and the generated texts."""

    def test_usage_of_first_turn_computed_by_hand(self) -> None:
        """Context '[{"content":"hi",...}]' 49 bytes = 13, instructions 9 bytes = 3, 'ok' = 1."""
        result = run("hi", instructions="Be brief.")
        assert result.response["usage"] == {
            "input_tokens": 16,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 1,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 17,
        }

    def test_cached_tokens_are_tokens_of_restored_prefix(self) -> None:
        """RWS-MODEL-3: cached_tokens = tokens(context[:restored_items])."""
        first = run("hi")
        context = build_context(normalize_input("hi"), first.output, normalize_input("again"))
        result = run_on(context, restored_items=2)
        usage = result.response["usage"]
        assert usage["input_tokens_details"]["cached_tokens"] == tokens(context[:2])
        assert usage["input_tokens"] == tokens(context)
        assert 0 < usage["input_tokens_details"]["cached_tokens"] < usage["input_tokens"]

    def test_cached_tokens_zero_without_restored_items(self) -> None:
        """RWS-MODEL-3: a hydrated or first-turn run has cached_tokens 0."""
        context = build_context(normalize_input("hi"), [], normalize_input("again"))
        assert run_on(context).response["usage"]["input_tokens_details"]["cached_tokens"] == 0

    def test_function_call_arguments_count_as_output_tokens(self) -> None:
        """Arguments '{"a": 12345}' (12 bytes) are 3 output tokens, none of them reasoning."""
        usage = run('rws:call name=f arguments={"a": 12345}').response["usage"]
        assert usage["output_tokens"] == 3
        assert usage["output_tokens_details"]["reasoning_tokens"] == 0


class TestLifecycle:
    """A.4 and the interface: lifecycle events carry copies of the server's skeleton."""

    def test_created_and_in_progress_carry_empty_in_progress_response(self) -> None:
        """Status in_progress, output [], usage null; skeleton fields kept."""
        result = run("rws:text length=3")
        for event in result.events[:2]:
            response = event["response"]
            assert response["id"] == "resp_test"
            assert response["status"] == "in_progress"
            assert response["output"] == []
            assert response["usage"] is None
            assert response["store"] is True

    def test_completed_response_carries_output_usage_and_completed_at(self) -> None:
        """The terminal lists the done items; completed_at is the skeleton's created_at."""
        result = run("rws:text length=3\nrws:call name=f")
        terminal = result.events[-1]["response"]
        assert terminal == result.response
        assert terminal["status"] == "completed"
        assert terminal["output"] == [
            e["item"] for e in of_type(result, "response.output_item.done")
        ]
        assert terminal["completed_at"] == SKELETON["created_at"]
        assert terminal["error"] is None
        assert terminal["incomplete_details"] is None
        assert terminal["usage"]["total_tokens"] > 0

    def test_events_have_no_sequence_number_or_stream_id(self) -> None:
        """The server adds sequence_number and stream_id."""
        for event in run("rws:reasoning summary=2 text=2\nrws:text length=2").events:
            assert "sequence_number" not in event
            assert "stream_id" not in event

    def test_run_is_deterministic_and_leaves_inputs_untouched(self) -> None:
        """Same inputs and ids give the same run; the skeleton and context are not mutated."""
        context = normalize_input("rws:text length=9 chunks=2\nrws:call name=f")
        before = json.dumps([SKELETON, context], sort_keys=True)
        assert run_on(context) == run_on(context)
        assert json.dumps([SKELETON, context], sort_keys=True) == before

    def test_events_do_not_share_objects(self) -> None:
        """Mutating one event (as a server adding fields does) does not change another."""
        result = run("rws:text length=3")
        result.events[-1]["response"]["output"][0]["status"] = "mutated"
        assert result.output[0]["status"] == "completed"
        assert result.response["output"][0]["status"] == "completed"

    @pytest.mark.parametrize("prefix", ["msg", "rs", "fc", "call"])
    def test_ids_come_from_the_caller(self, prefix: str) -> None:
        """Every item id and call_id is an id the caller issued, with its prefix."""
        issued: list[str] = []

        def ids(p: str) -> str:
            issued.append(f"{p}_{len(issued)}")
            return issued[-1]

        result = generate_run(
            response=SKELETON,
            context=normalize_input("rws:reasoning summary=1\nrws:text length=1\nrws:call name=f"),
            request={},
            restored_items=0,
            ids=ids,
        )
        used = {item["id"] for item in result.output} | {
            item["call_id"] for item in result.output if "call_id" in item
        }
        assert used == set(issued)
        assert any(i.startswith(f"{prefix}_") for i in used)


class TestRunLimits:
    """Not in the appendix: a run never generates more than the model's size limits."""

    def test_oversized_text_is_refused_before_generating(self) -> None:
        """A length beyond MAX_RUN_CHARACTERS raises ModelLimitError, naming the numbers."""
        with pytest.raises(ModelLimitError, match="1000001 characters"):
            run(f"rws:text length={MAX_RUN_CHARACTERS + 1}")

    def test_too_many_deltas_are_refused(self) -> None:
        """More than MAX_RUN_DELTAS deltas in one run raise ModelLimitError."""
        half = MAX_RUN_DELTAS // 2 + 1
        with pytest.raises(ModelLimitError):
            run(f"rws:text length={half} chunks={half}\nrws:refusal length={half} chunks={half}")

    @pytest.mark.parametrize("verb", ["text", "refusal", "reasoning"])
    def test_empty_texts_count_towards_the_delta_limit(self, verb: str) -> None:
        """An empty text sends no delta but still its item's events: each counts as one, so
        a message of nothing but ``rws:text`` lines cannot make millions of items."""
        with pytest.raises(ModelLimitError, match=f"{MAX_RUN_DELTAS + 1} deltas"):
            run(f"rws:{verb}\n" * (MAX_RUN_DELTAS + 1))

    @pytest.mark.slow
    def test_run_at_the_limits_is_generated(self) -> None:
        """Exactly MAX_RUN_DELTAS deltas are still generated."""
        result = run(f"rws:text length={MAX_RUN_DELTAS} chunks={MAX_RUN_DELTAS}")
        assert len(deltas(result, "response.output_text.delta")) == MAX_RUN_DELTAS


def test_fail_directive_after_an_incomplete_item_is_ignored() -> None:
    """A.5: rws:fail never follows an item that ended incomplete (RWS-ORDER-11)."""
    run = _run_for_fail_after_incomplete(after=50)
    assert run.status == "incomplete"
    assert run.events[-1]["type"] == "response.incomplete"


def test_fail_directive_before_the_incomplete_item_is_done_still_fails_the_run() -> None:
    """A cut that comes before the incomplete item's done event still fails the run."""
    run = _run_for_fail_after_incomplete(after=3)
    assert run.status == "failed"
    assert run.events[-1]["type"] == "response.failed"
    assert not [e for e in run.events if e["type"] == "response.output_item.done"]


def _run_for_fail_after_incomplete(*, after: int) -> GeneratedRun:
    return run(f"rws:text length=20 chunks=2\nrws:incomplete\nrws:fail after={after}")
