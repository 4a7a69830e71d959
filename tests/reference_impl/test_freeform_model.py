"""Tests of the ``freeform-1`` model on its own (pure, no session): seeding, text, chunking,
``max_output_tokens``, ``tool_choice`` and ``usage``.

``freeform-1`` is a reference-server model, not a spec requirement: it reads no directives and
answers with seeded text of its own, so that the suite's paths for any model can be proven
against the reference server.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_impl.model import (
    Context,
    GeneratedRun,
    build_context,
    context_tokens,
    freeform,
    normalize_input,
    seed_digest,
    tokens,
    truncate_utf8,
)
from reference_impl.model.seeded import SeededStream

__all__: list[str] = []

SKELETON: dict[str, Any] = {
    "id": "resp_ff",
    "object": "response",
    "created_at": 1_700_000_000,
    "model": freeform.MODEL_ID,
    "status": "in_progress",
    "output": [],
    "previous_response_id": None,
    "instructions": None,
    "store": True,
    "usage": None,
}

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
SEARCH = {
    "type": "function",
    "name": "search",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string", "minLength": 3}, "limit": {"type": "integer"}},
        "required": ["query"],
    },
}
WEB_SEARCH = {"type": "web_search"}

# Inputs for the sampling tests: 60 different prompts, some of them directives.
PROMPTS = [f"prompt number {n}: tell me something about {n * 7 % 13}" for n in range(50)] + [
    f"rws:text length={n} chunks={n % 5 + 1}" for n in range(10)
]


def run(
    input: Any = "hello",
    *,
    previous: Sequence[Mapping[str, Any]] = (),
    ids: Any = None,
    restored_items: int = 0,
    **request: Any,
) -> GeneratedRun:
    counter = itertools.count()
    return freeform.generate_run(
        response=SKELETON,
        context=build_context(previous, (), normalize_input(input)),
        request=request,
        restored_items=restored_items,
        ids=ids or (lambda prefix: f"{prefix}_{next(counter)}"),
    )


def only_item(result: GeneratedRun) -> dict[str, Any]:
    (item,) = result.output
    return item


def text_of(result: GeneratedRun) -> str:
    item = only_item(result)
    assert item["type"] == "message", item
    text: str = item["content"][0]["text"]
    return text


def deltas_of(result: GeneratedRun, kind: str = "response.output_text.delta") -> list[str]:
    return [e["delta"] for e in result.events if e["type"] == kind]


def generated_texts(result: GeneratedRun) -> list[str]:
    """Every text the run sent: deltas, done texts and final items."""
    found = [json.dumps(e, ensure_ascii=False) for e in result.events]
    return [*found, json.dumps(result.response, ensure_ascii=False)]


class TestSeeding:
    """The output is a function of the request's content and the context, nothing else."""

    def test_same_request_and_context_give_the_same_events(self) -> None:
        first = run("What is the weather like?", instructions="Be brief.")
        second = run("What is the weather like?", instructions="Be brief.")
        assert first.events == second.events
        assert first.response == second.response

    def test_server_ids_do_not_change_the_output(self) -> None:
        """The seed leaves out the ids the server draws (item ids, call ids)."""
        first = run("hi", ids=lambda prefix: f"{prefix}_aaaa")
        second = run("hi", ids=lambda prefix: f"{prefix}_bbbb")
        assert text_of(first) == text_of(second)
        assert deltas_of(first) == deltas_of(second)
        # A continuation of each: the previous output differs only in its id.
        follow_a = run("and then?", previous=[*normalize_input("hi"), *first.output])
        follow_b = run("and then?", previous=[*normalize_input("hi"), *second.output])
        assert first.output[0]["id"] != second.output[0]["id"]
        assert text_of(follow_a) == text_of(follow_b)

    def test_seed_digest_ignores_only_ids(self) -> None:
        item = {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
        other_id = {**item, "call_id": "call_2"}
        other_output = {**item, "output": "rain"}
        assert seed_digest([item]) == seed_digest([other_id])
        assert seed_digest([item]) != seed_digest([other_output])

    def test_seed_digest_of_a_continuation_equals_one_computed_from_scratch(self) -> None:
        """The incremental state a Context carries gives what hashing the whole list gives."""
        base = Context(normalize_input("one"))
        base.seed_digest()  # the parent's state is computed, as when its run was seeded
        grown = base.extended([{"type": "message", "role": "assistant", "content": "two"}])
        assert grown.seed_digest() == seed_digest(list(grown))
        assert grown.seed_digest() != base.seed_digest()

    @pytest.mark.parametrize(
        "change",
        [
            {"instructions": "Answer in French."},
            {"tools": [WEATHER], "tool_choice": "none"},
        ],
    )
    def test_instructions_and_tools_are_part_of_the_seed(self, change: dict[str, Any]) -> None:
        assert text_of(run("hello", **change)) != text_of(run("hello"))

    def test_the_previous_context_is_part_of_the_seed(self) -> None:
        fresh = run("and then?")
        continued = run("and then?", previous=normalize_input("once upon a time"))
        assert text_of(fresh) != text_of(continued)

    def test_settings_outside_the_seed_leave_the_text_alone(self) -> None:
        plain = run("hello")
        assert text_of(run("hello", store=False, metadata={"a": "b"}, temperature=0.2)) == (
            text_of(plain)
        )
        # An absent tool_choice is "auto".
        assert text_of(run("hello", tool_choice="auto")) == text_of(plain)

    def test_stream_is_deterministic_and_forks_are_independent(self) -> None:
        a, b = SeededStream(b"key"), SeededStream(b"key")
        assert [a.below(1000) for _ in range(20)] == [b.below(1000) for _ in range(20)]
        fork = SeededStream(b"key").fork("text")
        assert [fork.below(1000) for _ in range(20)] != [
            SeededStream(b"key").below(1000) for _ in range(20)
        ]
        picks = SeededStream(b"k").sample(50, 10)
        assert len(set(picks)) == 10
        assert picks == sorted(picks)
        assert all(0 <= p < 50 for p in picks)


class TestText:
    """Plausible text of pseudo-random length and chunking, never a directive."""

    def test_lengths_and_chunkings_vary_across_inputs(self) -> None:
        results = [run(prompt) for prompt in PROMPTS]
        lengths = [len(text_of(r)) for r in results]
        chunkings = [len(deltas_of(r)) for r in results]
        assert all(freeform.MIN_TEXT_LENGTH <= n <= freeform.MAX_TEXT_LENGTH for n in lengths)
        assert len(set(lengths)) >= 30, lengths
        assert len(set(chunkings)) >= 20, chunkings
        assert min(chunkings) >= 1
        assert max(lengths) - min(lengths) >= 200

    def test_every_answer_length_stays_in_range_and_ends_a_sentence(self) -> None:
        answers = [freeform.answer_text(SeededStream(b"%d" % n)) for n in range(3000)]
        lengths = [len(a) for a in answers]
        assert freeform.MIN_TEXT_LENGTH <= min(lengths) <= freeform.MIN_TEXT_LENGTH + 5
        assert freeform.MAX_TEXT_LENGTH - 10 <= max(lengths) <= freeform.MAX_TEXT_LENGTH
        assert all(a[-1] in ".!?" and not a[0].isspace() for a in answers)

    def test_some_answer_comes_in_one_delta_and_some_in_many(self) -> None:
        chunkings = {len(deltas_of(run(f"sample {n}"))) for n in range(200)}
        assert 1 in chunkings
        assert max(chunkings) >= 50

    def test_deltas_are_non_empty_and_concatenate_to_the_text(self) -> None:
        for prompt in PROMPTS[:20]:
            result = run(prompt)
            deltas = deltas_of(result)
            assert all(deltas)
            assert "".join(deltas) == text_of(result)

    def test_answer_is_words_of_the_vocabulary(self) -> None:
        vocabulary = {w.lower() for w in freeform.WORDS}
        for prompt in PROMPTS[:20]:
            words = re.findall(r"[^\s,.!?]+", text_of(run(prompt)))
            assert words
            assert {w.lower() for w in words} <= vocabulary

    def test_directives_are_ordinary_text(self) -> None:
        """Directives neither script the answer nor show up in it."""
        prompt = "\n".join(
            [
                "rws:text length=7 chunks=7",
                "rws:call name=x arguments={}",
                "rws:fail after=2",
                "rws:incomplete",
                "rws:reasoning summary=5",
                "rws:context",
            ]
        )
        result = run(prompt)
        assert result.status == "completed"
        assert [item["type"] for item in result.output] == ["message"]
        assert len(text_of(result)) != 7 or len(deltas_of(result)) != 7
        assert not any("rws:" in text for text in generated_texts(result))

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.one_of(
                st.text(max_size=30),
                st.builds("rws:text length={}".format, st.integers(0, 10**6)),
                st.sampled_from(["rws:", "rws:context", "rws:fail after=1", "rws:delay ms=9"]),
            ),
            max_size=6,
        )
    )
    def test_no_answer_contains_a_directive(self, lines: list[str]) -> None:
        result = run("\n".join(lines))
        assert result.status == "completed"
        assert result.delay_s == 0.0
        assert "rws:" not in text_of(result)


class TestMaxOutputTokens:
    """max_output_tokens cuts the answer at 4 bytes a token and ends the run incomplete."""

    def long_prompt(self, at_least: int) -> str:
        return next(p for p in PROMPTS if tokens(text_of(run(p))) > at_least)

    @pytest.mark.parametrize("budget", [0, 1, 5, 20])
    def test_a_text_over_budget_is_cut_and_the_run_ends_incomplete(self, budget: int) -> None:
        prompt = self.long_prompt(budget + 5)
        full = text_of(run(prompt))
        result = run(prompt, max_output_tokens=budget)
        assert result.status == "incomplete"
        assert result.response["incomplete_details"] == {"reason": "max_output_tokens"}
        item = only_item(result)
        assert item["status"] == "incomplete"
        # The cut text is the uncut answer's prefix of at most 4 * budget UTF-8 bytes.
        assert text_of(result) == truncate_utf8(full, 4 * budget)
        assert "".join(deltas_of(result)) == text_of(result)
        assert result.response["usage"]["output_tokens"] <= budget
        assert [e["type"] for e in result.events][-1] == "response.incomplete"

    def test_a_text_within_budget_completes_unchanged(self) -> None:
        prompt = PROMPTS[0]
        full = run(prompt)
        result = run(prompt, max_output_tokens=tokens(text_of(full)))
        assert result.status == "completed"
        assert text_of(result) == text_of(full)
        assert deltas_of(result) == deltas_of(full)

    def test_arguments_over_budget_are_cut_too(self) -> None:
        result = run("call it", tools=[WEATHER], tool_choice="required", max_output_tokens=2)
        item = only_item(result)
        assert item["type"] == "function_call"
        assert item["status"] == "incomplete"
        assert len(item["arguments"].encode()) <= 8
        assert result.status == "incomplete"


def validate_arguments(item: Mapping[str, Any], tool: Mapping[str, Any]) -> None:
    assert item["type"] == "function_call"
    assert item["name"] == tool["name"]
    jsonschema.Draft202012Validator(tool["parameters"]).validate(json.loads(item["arguments"]))


class TestToolChoice:
    """What the standard tool parameters force, and nothing more."""

    @pytest.mark.parametrize("prompt", PROMPTS[:8])
    def test_a_forced_function_is_called_with_valid_arguments(self, prompt: str) -> None:
        result = run(
            prompt, tools=[WEATHER, SEARCH], tool_choice={"type": "function", "name": "search"}
        )
        item = only_item(result)
        validate_arguments(item, SEARCH)
        assert item["call_id"].startswith("call_")
        deltas = deltas_of(result, "response.function_call_arguments.delta")
        assert "".join(deltas) == item["arguments"]
        assert result.status == "completed"

    def test_argument_deltas_vary_in_number(self) -> None:
        counts = {
            len(
                deltas_of(
                    run(p, tools=[WEATHER], tool_choice="required"),
                    "response.function_call_arguments.delta",
                )
            )
            for p in PROMPTS
        }
        assert len(counts) >= 3
        assert 1 in counts

    def test_required_calls_one_of_the_function_tools(self) -> None:
        names = set()
        for prompt in PROMPTS[:30]:
            item = only_item(
                run(prompt, tools=[WEB_SEARCH, WEATHER, SEARCH], tool_choice="required")
            )
            validate_arguments(item, WEATHER if item["name"] == "get_weather" else SEARCH)
            names.add(item["name"])
        assert names == {"get_weather", "search"}

    def test_required_without_function_tools_answers_with_text(self) -> None:
        assert text_of(run("hi", tools=[WEB_SEARCH], tool_choice="required"))

    def test_allowed_tools_required_calls_an_allowed_function(self) -> None:
        choice = {
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "get_weather"}],
        }
        for prompt in PROMPTS[:10]:
            validate_arguments(
                only_item(run(prompt, tools=[WEATHER, SEARCH], tool_choice=choice)), WEATHER
            )

    def test_a_forced_name_without_its_tool_is_called_with_empty_arguments(self) -> None:
        item = only_item(run("hi", tool_choice={"type": "function", "name": "missing"}))
        assert (item["name"], item["arguments"]) == ("missing", "{}")

    def test_none_never_calls(self) -> None:
        for prompt in PROMPTS:
            result = run(prompt, tools=[WEATHER, SEARCH], tool_choice="none")
            assert only_item(result)["type"] == "message"

    def test_auto_sometimes_calls_and_sometimes_answers(self) -> None:
        kinds = [only_item(run(p, tools=[WEATHER, SEARCH]))["type"] for p in PROMPTS]
        assert kinds.count("function_call") >= 10
        assert kinds.count("message") >= 10

    def test_auto_answers_with_text_after_a_tool_output(self) -> None:
        for prompt in PROMPTS[:30]:
            call = run(prompt, tools=[WEATHER], tool_choice="required")
            history = [*normalize_input(prompt), *call.output]
            output = {
                "type": "function_call_output",
                "call_id": call.output[0]["call_id"],
                "output": '{"temperature": 21}',
            }
            answer = run([output], previous=history, tools=[WEATHER])
            assert text_of(answer)

    def test_a_forced_choice_calls_again_after_a_tool_output(self) -> None:
        """Like a real model: a forced tool_choice forces a call on every turn."""
        call = run("weather?", tools=[WEATHER], tool_choice="required")
        output = {"type": "function_call_output", "call_id": "call_x", "output": "sunny"}
        again = run(
            [output],
            previous=[*normalize_input("weather?"), *call.output],
            tools=[WEATHER],
            tool_choice="required",
        )
        validate_arguments(only_item(again), WEATHER)


class TestUsageAndGenerate:
    def test_usage_counts_context_instructions_and_text(self) -> None:
        result = run("How are you?", instructions="You are terse.")
        usage = result.response["usage"]
        context = normalize_input("How are you?")
        assert usage["input_tokens"] == context_tokens(context) + tokens("You are terse.")
        assert usage["input_tokens_details"]["cached_tokens"] == 0
        assert usage["output_tokens"] == tokens(text_of(result))
        assert usage["output_tokens_details"]["reasoning_tokens"] == 0
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    def test_cached_tokens_are_the_restored_items(self) -> None:
        previous = [
            *normalize_input("first"),
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok"}],
            },
        ]
        result = run("second", previous=previous, restored_items=2)
        usage = result.response["usage"]
        assert usage["input_tokens_details"]["cached_tokens"] == context_tokens(previous)
        assert usage["input_tokens"] == context_tokens([*previous, *normalize_input("second")])

    def test_generate_false_produces_no_output(self) -> None:
        result = run("hello", generate=False, tools=[WEATHER], tool_choice="required")
        assert result.output == ()
        assert result.status == "completed"
        assert result.response["usage"]["output_tokens"] == 0
        assert [e["type"] for e in result.events] == [
            "response.created",
            "response.in_progress",
            "response.completed",
        ]
