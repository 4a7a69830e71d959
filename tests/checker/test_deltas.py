"""The delta equalities (deltas.json) and sequence numbers of a run."""

from __future__ import annotations

from typing import Any

from conformance.results import Verdict
from tests.checker.synth import (
    Call,
    Item,
    Message,
    Reasoning,
    Refusal,
    Transcript,
    assert_clean,
    assert_only,
    check,
    error_event,
    run_events,
)

__all__: list[str] = []

ANNOTATION = {
    "type": "url_citation",
    "start_index": 0,
    "end_index": 5,
    "title": "Example",
    "url": "https://example.com/",
}


def one_run(events: list[dict[str, Any]]) -> Transcript:
    return Transcript().open().create().recv(*events)


def first(events: list[dict[str, Any]], etype: str) -> dict[str, Any]:
    return next(e for e in events if e["type"] == etype)


def at(events: list[dict[str, Any]], etype: str) -> int:
    return next(i for i, e in enumerate(events) if e["type"] == etype)


def renumber(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for seq, event in enumerate(events):
        event["sequence_number"] = seq
    return events


class TestEqualities:
    """Section 6: what the deltas, done events, done items and the terminal response share."""

    def test_correct_items_exercise_every_equality(self) -> None:
        """Text, refusal, call and reasoning runs satisfy E1-E13."""
        items: list[Item] = [
            Reasoning("Plan it.", "Think."),
            Message("Hello there."),
            Call("f", "{}"),
            Refusal("No."),
        ]
        assert_clean(
            check(one_run(run_events(items))),
            "RWS-DELTA-1", "RWS-DELTA-2", "RWS-DELTA-3", "RWS-DELTA-4", "RWS-DELTA-6",
            "RWS-DELTA-8", "RWS-ORDER-8", "RWS-ORDER-9", "RWS-EVENT-6",
        )  # fmt: skip

    def test_done_text_differing_from_deltas_breaks_delta_1(self) -> None:
        """E1: concat(output_text.delta) = output_text.done.text."""
        events = run_events([Message("Hello there.")])
        first(events, "response.output_text.done")["text"] = "Hello there!"
        assert_only(check(one_run(events)), "RWS-DELTA-1")

    def test_terminal_text_differing_breaks_delta_1(self) -> None:
        """E1: the terminal response carries the same text."""
        events = run_events([Message("Hello there.")])
        events[-1]["response"]["output"][0]["content"][0]["text"] = "Hello"
        report = check(one_run(events))
        # The terminal output then also differs from the done items (RWS-ORDER-9).
        assert {f.requirement for f in report.findings} == {"RWS-DELTA-1", "RWS-ORDER-9"}

    def test_non_empty_added_part_breaks_delta_2(self) -> None:
        """E2: content_part.added carries the empty part."""
        events = run_events([Message("Hello there.")])
        first(events, "response.content_part.added")["part"]["text"] = "Hel"
        assert_only(check(one_run(events)), "RWS-DELTA-2")

    def test_refusal_part_differing_breaks_delta_3(self) -> None:
        """E3: the refusal in content_part.done equals the deltas."""
        events = run_events([Refusal("No can do.")])
        first(events, "response.content_part.done")["part"]["refusal"] = "No."
        assert_only(check(one_run(events)), "RWS-DELTA-3")

    def test_item_arguments_differing_breaks_delta_4(self) -> None:
        """E4: the item's arguments in output_item.done equal the deltas."""
        events = run_events([Call("f", '{"a":1}')])
        first(events, "response.output_item.done")["item"]["arguments"] = '{"a":2}'
        events[-1]["response"]["output"][0]["arguments"] = '{"a":2}'
        assert_only(check(one_run(events)), "RWS-DELTA-4")

    def test_summary_differing_breaks_delta_6(self) -> None:
        """E6: the summary in output_item.done equals the summary deltas."""
        events = run_events([Reasoning("Plan it.", "Think.")])
        first(events, "response.output_item.done")["item"]["summary"][0]["text"] = "Plan"
        events[-1]["response"]["output"][0]["summary"][0]["text"] = "Plan"
        assert_only(check(one_run(events)), "RWS-DELTA-6")

    def test_annotation_in_final_part_passes(self) -> None:
        """E10: an announced annotation appears at its index in the final part."""
        events = run_events([Message("Hello there.")])
        key = {k: first(events, "response.output_text.delta")[k]
               for k in ("item_id", "output_index", "content_index")}  # fmt: skip
        events.insert(at(events, "response.output_text.done"), {
            "type": "response.output_text.annotation.added", **key, "annotation_index": 0,
            "annotation": ANNOTATION,
        })  # fmt: skip
        for part in (
            first(events, "response.content_part.done")["part"],
            first(events, "response.output_item.done")["item"]["content"][0],
            events[-1]["response"]["output"][0]["content"][0],
        ):
            part["annotations"] = [ANNOTATION]
        assert_clean(check(one_run(renumber(events))), "RWS-DELTA-7")

    def test_annotation_missing_from_final_part_breaks_delta_7(self) -> None:
        """E10: an announced annotation that the final part lacks."""
        events = run_events([Message("Hello there.")])
        key = {k: first(events, "response.output_text.delta")[k]
               for k in ("item_id", "output_index", "content_index")}  # fmt: skip
        events.insert(at(events, "response.output_text.done"), {
            "type": "response.output_text.annotation.added", **key, "annotation_index": 0,
            "annotation": ANNOTATION,
        })  # fmt: skip
        assert_only(check(one_run(renumber(events))), "RWS-DELTA-7")

    def test_item_done_with_other_id_breaks_delta_8(self) -> None:
        """output_item.done carries the id announced by output_item.added."""
        events = run_events([Call("f", "{}")])
        first(events, "response.output_item.done")["item"]["id"] = "fc_other"
        events[-1]["response"]["output"][0]["id"] = "fc_other"
        assert_only(check(one_run(events)), "RWS-DELTA-8")

    def test_item_done_in_progress_breaks_delta_8(self) -> None:
        """output_item.done carries a final status."""
        events = run_events([Call("f", "{}")])
        first(events, "response.output_item.done")["item"]["status"] = "in_progress"
        events[-1]["response"]["output"][0]["status"] = "in_progress"
        assert_only(check(one_run(events)), "RWS-DELTA-8")

    def test_sub_event_with_other_item_id_breaks_order_8(self) -> None:
        """Every item_id of an item's sub-events is the item's id."""
        events = run_events([Call("f", '{"a":1}', k=3)])
        first(events, "response.function_call_arguments.delta")["item_id"] = "fc_other"
        assert_only(check(one_run(events)), "RWS-ORDER-8")

    def test_terminal_output_missing_an_item_breaks_order_9(self) -> None:
        """The terminal output lists every done item."""
        events = run_events([Message("One."), Refusal("No.")])
        del events[-1]["response"]["output"][1]
        assert_only(check(one_run(events)), "RWS-ORDER-9")

    def test_lifecycle_with_other_response_id_breaks_event_6(self) -> None:
        """response.in_progress carries the run's response id."""
        events = run_events()
        events[1]["response"]["id"] = "resp_other"
        assert_only(check(one_run(events)), "RWS-EVENT-6")

    def test_reused_response_id_breaks_event_7(self) -> None:
        """A response id is never used for two runs (RWS-EVENT-7, not the per-run EVENT-6)."""
        t = one_run(run_events(rid="resp_same")).create().recv(*run_events(rid="resp_same"))
        assert_only(check(t), "RWS-EVENT-7")


class TestSequenceNumbers:
    """RWS-SEQ-1..4."""

    def test_consecutive_numbers_from_zero_pass(self) -> None:
        """0, 1, 2, ... passes every sequence requirement."""
        report = check(one_run(run_events()))
        assert_clean(report, "RWS-SEQ-1", "RWS-SEQ-2", "RWS-SEQ-3")

    def test_missing_sequence_number_breaks_seq_1(self) -> None:
        """Every event of a run carries an integer sequence_number."""
        events = run_events()
        del events[3]["sequence_number"]
        assert_only(check(one_run(events), permissive=True), "RWS-SEQ-1")

    def test_repeated_sequence_number_breaks_seq_2(self) -> None:
        """Numbers strictly increase within a run."""
        events = run_events()
        for event in events[3:]:
            event["sequence_number"] -= 1
        assert_only(check(one_run(events)), "RWS-SEQ-2")

    def test_gap_in_sequence_numbers_is_a_warning_of_seq_3(self) -> None:
        """A gap is allowed by RWS-SEQ-2 but not RECOMMENDED (RWS-SEQ-3, SHOULD)."""
        events = run_events()
        for event in events[3:]:
            event["sequence_number"] += 5
        report = check(one_run(events))
        assert_only(report, "RWS-SEQ-3", Verdict.WARNING)
        assert not report.failed

    def test_first_number_not_zero_is_a_warning_of_seq_3(self) -> None:
        """response.created SHOULD carry 0."""
        events = run_events()
        for event in events:
            event["sequence_number"] += 1
        assert_only(check(one_run(events)), "RWS-SEQ-3", Verdict.WARNING)

    def test_rejection_with_sequence_number_breaks_seq_4(self) -> None:
        """A request-scoped rejection carries no sequence_number."""
        t = Transcript().open().create(previous_response_id="resp_unknown")
        t.recv(error_event("previous_response_not_found", param="previous_response_id",
                           sequence_number=0))  # fmt: skip
        assert_only(check(t), "RWS-SEQ-4")


def custom_tool_run(done_input: str) -> list[dict[str, Any]]:
    """A run with one custom tool call whose input is sent as two deltas."""
    events = run_events([])
    terminal = events.pop()
    base = {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_c1", "name": "shell"}
    key = {"item_id": "ctc_1", "output_index": 0}
    done = {**base, "input": done_input, "status": "completed"}
    events += [
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**base, "input": "", "status": "in_progress"}},
        {"type": "response.custom_tool_call_input.delta", **key, "delta": "ls "},
        {"type": "response.custom_tool_call_input.delta", **key, "delta": "-la"},
        {"type": "response.custom_tool_call_input.done", **key, "input": "ls -la"},
        {"type": "response.output_item.done", "output_index": 0, "item": done},
    ]  # fmt: skip
    terminal["response"]["output"] = [done]
    return renumber([*events, terminal])


def test_custom_tool_input_equal_to_deltas_passes() -> None:
    """E5: custom tool call input is the concatenation of its deltas."""
    assert_clean(check(one_run(custom_tool_run("ls -la")), permissive=True), "RWS-DELTA-5")


def test_custom_tool_input_differing_breaks_delta_5() -> None:
    """E5: the item's input in output_item.done differs from the deltas."""
    assert_only(check(one_run(custom_tool_run("ls")), permissive=True), "RWS-DELTA-5")
