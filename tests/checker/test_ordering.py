"""The ordering grammar (ordering.json): correct runs pass, each break is its requirement."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.results import Verdict
from tests.checker.synth import (
    Call,
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


def one_run(events: list[dict[str, Any]], **create: Any) -> Transcript:
    return Transcript().open().create(**create).recv(*events)


def index_of(events: list[dict[str, Any]], etype: str, nth: int = 0) -> int:
    return [i for i, e in enumerate(events) if e["type"] == etype][nth]


def renumber(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for seq, event in enumerate(events):
        event["sequence_number"] = seq
    return events


class TestCorrectRuns:
    """Section 5 of the grammar: every kind of correct run yields no finding."""

    @pytest.mark.parametrize(
        "items",
        [
            [Message("Hello there.", k=3)],
            [Call("get_weather", '{"city":"Paris"}', k=4)],
            [Reasoning("Thinking.", "Step one, step two.")],
            [Refusal("I can't help with that.")],
            [Reasoning("Plan.", "Go."), Message("Calling."), Call("f", "{}"), Refusal("No.")],
            [Message("")],
        ],
        ids=["text", "function-call", "reasoning", "refusal", "mixed", "empty-text"],
    )
    def test_correct_run_has_no_finding(self, items: list[Any]) -> None:
        """A correct run passes and exercises the ordering requirements."""
        report = check(one_run(run_events(items)))
        assert_clean(report, "RWS-ORDER-1", "RWS-ORDER-2", "RWS-ORDER-4", "RWS-ORDER-5")
        assert report.verdicts()["RWS-ORDER-4"] is Verdict.PASSED

    def test_incomplete_run_with_incomplete_last_item_passes(self) -> None:
        """An incomplete last item and response.incomplete is correct (RWS-ORDER-11)."""
        events = run_events(
            [Call("f", "{}"), Message("cut", status="incomplete")], end="incomplete"
        )
        assert_clean(check(one_run(events)), "RWS-ORDER-11", "RWS-ORDER-3")

    def test_failed_run_passes(self) -> None:
        """A run may fail after items (response.failed)."""
        assert_clean(check(one_run(run_events([Message("partial")], end="failed"))), "RWS-ORDER-2")

    def test_mid_run_error_then_failed_passes(self) -> None:
        """An error with the run's sequence_number may precede response.failed (RWS-ORDER-12)."""
        events = run_events([Message("partial")], end="failed")
        events.insert(-1, error_event("server_error", status=500, type_="server_error"))
        renumber(events)
        assert_clean(check(one_run(events)), "RWS-ORDER-12")

    def test_response_queued_before_in_progress_passes(self) -> None:
        """response.queued may follow response.created."""
        events = run_events()
        queued = dict(events[1], type="response.queued")
        queued["response"] = dict(queued["response"], status="queued")
        events.insert(1, queued)
        assert_clean(check(one_run(renumber(events))))


class TestBrokenRuns:
    """Each minimal break yields exactly its requirement's finding."""

    def test_run_not_starting_with_created_breaks_order_1(self) -> None:
        """The first event of a run is response.created."""
        events = run_events()[1:]
        assert_only(check(one_run(renumber(events))), "RWS-ORDER-1")

    def test_created_with_output_breaks_order_1(self) -> None:
        """response.created carries an empty output."""
        events = run_events()
        events[0]["response"]["output"] = [events[-1]["response"]["output"][0]]
        assert_only(check(one_run(events)), "RWS-ORDER-1")

    def test_created_with_completed_status_breaks_order_1(self) -> None:
        """response.created has status in_progress or queued."""
        events = run_events()
        events[0]["response"]["status"] = "completed"
        assert_only(check(one_run(events)), "RWS-ORDER-1")

    def test_event_after_terminal_breaks_order_2(self) -> None:
        """Nothing of a run follows its terminal event."""
        events = run_events()
        events.append(dict(events[-1], sequence_number=len(events)))
        assert_only(check(one_run(events)), "RWS-ORDER-2")

    def test_terminal_status_mismatch_breaks_order_3(self) -> None:
        """response.completed carries status completed."""
        events = run_events()
        events[-1]["response"]["status"] = "incomplete"
        assert_only(check(one_run(events)), "RWS-ORDER-3")

    def test_incomplete_without_reason_breaks_order_3(self) -> None:
        """response.incomplete carries incomplete_details.reason."""
        events = run_events([Message("cut", status="incomplete")], end="incomplete")
        events[-1]["response"]["incomplete_details"] = None
        assert_only(check(one_run(events)), "RWS-ORDER-3")

    def test_in_progress_after_an_item_breaks_order_4(self) -> None:
        """response.in_progress comes before the body."""
        events = run_events()
        in_progress = events.pop(1)
        events.insert(3, in_progress)
        assert_only(check(one_run(renumber(events))), "RWS-ORDER-4")

    def test_content_part_event_in_function_call_breaks_order_4(self) -> None:
        """A function_call item has no content parts."""
        events = run_events([Call("f", '{"a":1}')])
        at = index_of(events, "response.function_call_arguments.done")
        item_id = events[at]["item_id"]
        part = {"type": "output_text", "text": "", "annotations": []}
        events.insert(
            at,
            {
                "type": "response.content_part.added",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "part": part,
            },
        )
        assert_only(check(one_run(renumber(events))), "RWS-ORDER-4")

    def test_item_event_after_item_done_breaks_order_5(self) -> None:
        """output_item.done comes after every event of its item."""
        events = run_events([Call("f", '{"a":1}')])
        at = index_of(events, "response.output_item.done")
        late = dict(events[at - 2], delta="")  # an empty delta: the arguments stay equal
        events.insert(at + 1, late)
        assert_only(check(one_run(renumber(events))), "RWS-ORDER-5")

    def test_item_event_before_item_added_breaks_order_5(self) -> None:
        """output_item.added comes before any event of its item."""
        events = run_events([Call("f", '{"a":1}')])
        at = index_of(events, "response.output_item.added")
        events.insert(at, events.pop(at + 1))
        assert_only(check(one_run(renumber(events))), "RWS-ORDER-5")

    def test_delta_before_part_added_breaks_order_6(self) -> None:
        """content_part.added comes before the part's deltas."""
        events = run_events([Message("Hello there.")])
        at = index_of(events, "response.content_part.added")
        events[at], events[at + 1] = events[at + 1], events[at]
        assert_only(check(one_run(renumber(events))), "RWS-ORDER-6")

    def test_item_done_with_open_part_breaks_order_6(self) -> None:
        """A part is finished before its item is done."""
        events = run_events([Message("Hello there.")])
        del events[index_of(events, "response.content_part.done")]
        assert_only(check(one_run(renumber(events))), "RWS-ORDER-6")

    def test_output_index_gap_breaks_order_7(self) -> None:
        """Output indexes are 0, 1, 2, ... without gaps."""
        events = run_events([Message("One."), Refusal("No.")])
        first = index_of(events, "response.output_item.added", 1)
        for event in events[first:-1]:
            event["output_index"] = 2
        assert_only(check(one_run(events)), "RWS-ORDER-7")

    def test_incomplete_item_followed_by_item_breaks_order_11(self) -> None:
        """An incomplete item is the last item."""
        events = run_events([Message("cut", status="incomplete"), Refusal("No.")], end="incomplete")
        assert_only(check(one_run(events)), "RWS-ORDER-11")

    def test_incomplete_item_in_completed_run_breaks_order_11(self) -> None:
        """A run with an incomplete item ends response.incomplete."""
        events = run_events([Message("cut", status="incomplete")])
        assert_only(check(one_run(events)), "RWS-ORDER-11")

    def test_mid_run_error_without_failed_breaks_order_12(self) -> None:
        """A mid-run error is followed by response.failed, never by another terminal."""
        events = run_events([Message("partial")])
        events.insert(-1, error_event("server_error", status=500, type_="server_error"))
        assert_only(check(one_run(renumber(events))), "RWS-ORDER-12")


def test_event_after_terminal_is_not_taken_for_another_lane() -> None:
    """An event after a lane's terminal is RWS-ORDER-2 even while another lane runs."""
    a = run_events(stream_id="a")
    b = run_events(stream_id="b")
    late = dict(a[-1], sequence_number=len(a))
    t = Transcript().open().create(stream_id="a").create(stream_id="b")
    t.recv(*a, *b[:3], late, *b[3:])
    assert_only(check(t), "RWS-ORDER-2")


def test_part_without_added_event_is_one_finding() -> None:
    """Every event of a part that was never opened breaks RWS-ORDER-6, reported once."""
    events = run_events([Message("Hello there.", k=3)])
    del events[index_of(events, "response.content_part.added")]
    report = check(one_run(renumber(events)))
    assert_only(report, "RWS-ORDER-6")
    assert len(report.findings) == 1
    assert report.exercised["RWS-ORDER-6"] >= 5
