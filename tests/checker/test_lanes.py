"""Lanes: request/outcome pairing, stream_id routing, busy lanes and lane limits."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.results import Verdict
from conformance.transcript import Record
from tests.checker.synth import (
    Message,
    Refusal,
    Transcript,
    assert_clean,
    assert_only,
    check,
    error_event,
    run_events,
)

__all__: list[str] = []

SERVER = ("server",)


class TestStreamIdRouting:
    """RWS-EVENT-4/5, RWS-CREATE-12, RWS-LANE-1."""

    def test_two_lanes_interleaved_pass(self) -> None:
        """Runs of two named lanes may interleave; each is checked on its own."""
        a = run_events([Message("Alpha lane.")], stream_id="a")
        b = run_events([Message("Beta lane.")], stream_id="b")
        mixed = [e for pair in zip(a, b, strict=True) for e in pair]
        t = Transcript().open().create(stream_id="a").create(stream_id="b").recv(*mixed)
        assert_clean(check(t), "RWS-EVENT-4", "RWS-CREATE-12", "RWS-LANE-1")

    def test_named_lane_event_without_stream_id_breaks_event_4(self) -> None:
        """Every event of a run on a named lane carries its stream_id."""
        events = run_events(stream_id="a")
        del events[3]["stream_id"]
        t = Transcript().open().create(stream_id="a").recv(*events)
        assert_only(check(t), "RWS-EVENT-4")

    def test_default_lane_event_with_stream_id_breaks_event_5(self) -> None:
        """Events of a default-lane run carry no stream_id."""
        events = run_events()
        events[3]["stream_id"] = "x"
        assert_only(check(Transcript().open().create().recv(*events)), "RWS-EVENT-5")

    def test_null_stream_id_is_the_default_lane(self) -> None:
        """ "stream_id": null is the default lane (RWS-CREATE-7): events carry no stream_id."""
        t = Transcript().open().create(stream_id=None).recv(*run_events())
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-7", "RWS-EVENT-5")

    def test_null_stream_id_answered_on_a_lane_breaks_create_7(self) -> None:
        """A run for "stream_id": null whose events carry a stream_id."""
        t = Transcript().open().create(stream_id=None).recv(*run_events(stream_id="null"))
        report = check(t, roles=SERVER)
        assert {f.requirement for f in report.findings} == {"RWS-EVENT-5", "RWS-CREATE-7"}

    def test_run_without_request_breaks_create_12(self) -> None:
        """A run only answers a response.create."""
        assert_only(check(Transcript().open().recv(*run_events())), "RWS-CREATE-12")

    def test_error_without_request_breaks_create_12(self) -> None:
        """A request-scoped error only answers a response.create."""
        t = Transcript().open().recv(error_event("rate_limit_exceeded", status=429,
                                                 type_="rate_limit_error"))  # fmt: skip
        assert_only(check(t), "RWS-CREATE-12")

    def test_server_close_with_unanswered_request_breaks_create_12(self) -> None:
        """Every response.create gets an outcome before the server closes."""
        t = Transcript().open().create().close(direction="s2c", code=1001)
        assert_only(check(t), "RWS-CREATE-12")

    def test_overlapping_runs_on_one_lane_break_lane_1(self) -> None:
        """The next run of a lane starts after the previous run's terminal event."""
        first = run_events()[:-1]  # no terminal event
        t = Transcript().open().create().create().recv(*first, *run_events())
        assert_only(check(t), "RWS-LANE-1")

    def test_queued_runs_in_order_pass(self) -> None:
        """busy-lane=queue: a second create on a busy lane runs after the first."""
        t = Transcript().open().create().create().recv(*run_events(), *run_events())
        assert_clean(check(t), "RWS-LANE-1")


class TestLaneRules:
    """RWS-LANE-2/3/5, RWS-CREATE-18/19: outcomes requests.json predicts."""

    def test_busy_lane_reject_answered_with_in_flight_passes(self) -> None:
        """busy-lane=reject: the second create gets response_already_in_flight."""
        events = run_events()
        t = Transcript().open().create().recv(*events[:3]).create()
        t.recv(error_event("response_already_in_flight", status=409), *events[3:])
        assert_clean(check(t, roles=SERVER, busy_lane="reject"), "RWS-LANE-2")

    def test_busy_lane_reject_queueing_instead_breaks_lane_2(self) -> None:
        """busy-lane=reject: queueing the second create is wrong."""
        t = Transcript().open().create().create().recv(*run_events(), *run_events())
        assert_only(check(t, roles=SERVER, busy_lane="reject"), "RWS-LANE-2")

    def test_invalid_stream_id_answered_with_error_passes(self) -> None:
        """An invalid stream_id gets invalid_stream_id without a stream_id."""
        t = Transcript().open().create(stream_id="not valid!")
        t.recv(error_event("invalid_stream_id", param="stream_id"))
        assert_clean(check(t), "RWS-LANE-3")

    def test_invalid_stream_id_answered_with_run_breaks_lane_3(self) -> None:
        """An invalid stream_id never starts a run."""
        t = Transcript().open().create(stream_id="").recv(*run_events())
        assert_only(check(t), "RWS-LANE-3")

    def test_invalid_stream_id_error_carrying_stream_id_breaks_lane_3(self) -> None:
        """invalid_stream_id carries no stream_id."""
        t = Transcript().open().create(stream_id="bad id")
        t.recv(error_event("invalid_stream_id", param="stream_id", stream_id="bad id"))
        assert_only(check(t, permissive=True), "RWS-LANE-3")

    def test_lane_over_limit_answered_with_limit_error_passes(self) -> None:
        """The lane beyond max-named-lanes gets websocket_stream_limit_reached."""
        t = Transcript().open()
        for lane in ("a", "b"):
            t.create(stream_id=lane).recv(*run_events(stream_id=lane))
        t.create(stream_id="c")
        t.recv(error_event("websocket_stream_limit_reached", param="stream_id", stream_id="c"))
        assert_clean(check(t, max_named_lanes="2"), "RWS-LANE-5")

    def test_lane_over_limit_served_breaks_lane_5(self) -> None:
        """A lane beyond the declared limit is not served."""
        t = Transcript().open()
        for lane in ("a", "b", "c"):
            t.create(stream_id=lane).recv(*run_events(stream_id=lane))
        assert_only(check(t, max_named_lanes="2"), "RWS-LANE-5")

    def test_stream_false_answered_with_unsupported_parameter_passes(self) -> None:
        """RWS-CREATE-20: stream: false may get unsupported_parameter naming stream."""
        t = Transcript().open().create(stream=False)
        t.recv(error_event("unsupported_parameter", param="stream"))
        assert_clean(check(t), "RWS-CREATE-18")

    @pytest.mark.parametrize("field", [{"stream": False}, {"background": True}])
    def test_stream_false_or_background_served_as_a_run_passes(self, field: Any) -> None:
        """RWS-CREATE-18/19 (D4): ignoring them and streaming the run is permitted too."""
        t = Transcript().open().create(**field).recv(*run_events())
        expected = "RWS-CREATE-18" if "stream" in field else "RWS-CREATE-19"
        assert_clean(check(t, roles=SERVER), expected)

    @pytest.mark.parametrize(
        ("field", "requirement"),
        [({"stream": False}, "RWS-CREATE-18"), ({"background": True}, "RWS-CREATE-19")],
    )
    def test_refused_with_another_code_breaks_create_18_19(
        self, field: Any, requirement: str
    ) -> None:
        """Served or refused with unsupported_parameter: another error code is neither."""
        t = Transcript().open().create(**field)
        t.recv(error_event("invalid_value", param=next(iter(field))))
        assert_only(check(t, roles=SERVER), requirement)

    def test_unsupported_parameter_naming_other_param_breaks_create_18(self) -> None:
        """The error names the parameter in param."""
        t = Transcript().open().create(stream=False)
        t.recv(error_event("unsupported_parameter", param="background"))
        assert_only(check(t), "RWS-CREATE-18")


class TestMoreExpectations:
    """RWS-LIMIT-1 (connection age), RWS-CREATE-5 (schema-invalid create), RWS-ORDER-10."""

    def test_create_after_connection_age_answered_with_limit_error_passes(self) -> None:
        """A create sent after max-connection-age gets websocket_connection_limit_reached."""
        t = Transcript().open()
        t.records.append(Record(index=1, kind="text", conn="c1", ts=5.0, dir="c2s",
                                text='{"type":"response.create","input":"hi"}'))  # fmt: skip
        t.recv(error_event("websocket_connection_limit_reached"))
        assert_clean(check(t, max_connection_age="2"), "RWS-LIMIT-1")

    def test_create_after_connection_age_served_breaks_limit_1(self) -> None:
        """No new run once the connection age is reached."""
        t = Transcript().open()
        t.records.append(Record(index=1, kind="text", conn="c1", ts=5.0, dir="c2s",
                                text='{"type":"response.create","input":"hi"}'))  # fmt: skip
        t.recv(*run_events())
        assert_only(check(t, max_connection_age="2"), "RWS-LIMIT-1")

    def test_create_within_margin_of_the_age_gets_no_verdict(self) -> None:
        """A create within the clock margin of the limit may go either way."""
        t = Transcript().open()
        t.records.append(Record(index=1, kind="text", conn="c1", ts=2.5, dir="c2s",
                                text='{"type":"response.create","input":"hi"}'))  # fmt: skip
        assert_clean(check(t.recv(*run_events()), max_connection_age="2"))

    def test_busy_lane_create_within_margin_of_the_age_may_get_the_limit_error(self) -> None:
        """busy-lane=reject: near the limit, the limit error is as good as the refusal."""
        events = run_events()
        t = Transcript().open().create().recv(*events[:2])
        t.records.append(Record(index=len(t.records), kind="text", conn="c1", ts=2.5, dir="c2s",
                                text='{"type":"response.create","input":"hi"}'))  # fmt: skip
        t.recv(*events[2:]).recv(error_event("websocket_connection_limit_reached"))
        assert_clean(check(t, roles=SERVER, busy_lane="reject", max_connection_age="2"))

    def test_schema_invalid_create_answered_with_validation_error_passes(self) -> None:
        """A create with a field of the wrong type gets invalid_type."""
        t = Transcript().open().create(temperature="hot")
        t.recv(error_event("invalid_type", param="temperature"))
        assert_clean(check(t), "RWS-CREATE-5")

    def test_schema_invalid_create_served_breaks_create_5(self) -> None:
        """A create that does not validate never starts a run."""
        t = Transcript().open().create(temperature="hot").recv(*run_events())
        assert_only(check(t), "RWS-CREATE-5")

    def test_two_items_open_at_once_is_informational(self) -> None:
        """Interleaved items are allowed (MAY) and reported as data."""
        events = run_events([Refusal("One."), Refusal("Two.")])
        added = [i for i, e in enumerate(events) if e["type"] == "response.output_item.added"]
        done = [i for i, e in enumerate(events) if e["type"] == "response.output_item.done"]
        second, first_done = added[1], done[0]
        events.insert(first_done, events.pop(second))
        for seq, event in enumerate(events):
            event["sequence_number"] = seq
        report = check(Transcript().open().create().recv(*events))
        assert_only(report, "RWS-ORDER-10", Verdict.INFORMATIONAL)
        assert not report.failed


def test_stray_events_are_one_finding_per_lane() -> None:
    """A whole run without its response.create is one RWS-CREATE-12 finding per event stream."""
    report = check(Transcript().open().recv(*run_events([Message("Hello there.", k=5)])))
    assert_only(report, "RWS-CREATE-12")
    assert len(report.findings) == 2  # the response.created, then the stream of its events


IN_FLIGHT = error_event("response_already_in_flight", status=409)
STREAM_FALSE = error_event("unsupported_parameter", param="stream")


class TestOutcomeOrder:
    """RWS-LANE-9: the outcomes of one lane come in request order, errors included."""

    def test_refusal_before_the_earlier_run_starts_breaks_lane_9(self) -> None:
        """busy-lane=reject: the refusal of the second create overtakes the first's run."""
        t = Transcript().open().create().create().recv(IN_FLIGHT, *run_events())
        assert_only(check(t, roles=SERVER, busy_lane="reject"), "RWS-LANE-9")

    def test_refusal_after_the_earlier_run_started_passes(self) -> None:
        """busy-lane=reject: the first run starts, then the refusal; both in request order."""
        events = run_events()
        t = Transcript().open().create().create().recv(events[0], IN_FLIGHT, *events[1:])
        assert_clean(check(t, roles=SERVER, busy_lane="reject"), "RWS-LANE-2", "RWS-LANE-9")

    def test_queued_invalid_create_answered_before_earlier_run_starts_breaks_lane_9(
        self,
    ) -> None:
        """busy-lane=queue: the error of the second create comes before the first's run."""
        t = Transcript().open().create().create(stream=False).recv(STREAM_FALSE, *run_events())
        assert_only(check(t, roles=SERVER), "RWS-LANE-9")

    def test_queued_invalid_create_answered_while_earlier_run_runs_breaks_lane_9(self) -> None:
        """busy-lane=queue: a request queued behind a run gets its error after the run ends."""
        events = run_events()
        t = Transcript().open().create().recv(*events[:3]).create(stream=False)
        t.recv(STREAM_FALSE, *events[3:])
        assert_only(check(t, roles=SERVER), "RWS-LANE-9")

    def test_queued_invalid_create_answered_after_earlier_run_passes(self) -> None:
        """busy-lane=queue: the queued request's error follows the run's terminal event."""
        t = Transcript().open().create().create(stream=False).recv(*run_events(), STREAM_FALSE)
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-18", "RWS-LANE-9")

    def test_error_on_another_lane_may_overtake_a_run(self) -> None:
        """Order is per lane: lane b's error may come while lane a's request waits."""
        t = Transcript().open().create(stream_id="a").create(stream_id="b", stream=False)
        t.recv(error_event("unsupported_parameter", param="stream", stream_id="b"))
        t.recv(*run_events(stream_id="a"))
        assert_clean(check(t, roles=SERVER), "RWS-LANE-9")


LIMIT = error_event("websocket_connection_limit_reached")
WARNING = Verdict.WARNING


class TestConnectionLimitOutcomes:
    """RWS-LIMIT-1/2: websocket_connection_limit_reached answers requests sent after the limit."""

    def test_one_limit_error_answers_every_request_sent_after_the_limit(self) -> None:
        """Several creates after the limit: the limit error, then the close, is their answer."""
        t = Transcript().open().wait(5).create().create(stream_id="a").create(stream_id="b")
        t.recv(LIMIT).close(direction="s2c", code=1001)
        assert_clean(check(t, roles=SERVER, max_connection_age="2"), "RWS-LIMIT-1")

    def test_limit_error_for_each_request_after_the_limit_passes(self) -> None:
        """One limit error per request sent after the limit is as good."""
        t = Transcript().open().wait(5).create().create(stream_id="a")
        t.recv(LIMIT, LIMIT).close(direction="s2c", code=1001)
        assert_clean(check(t, roles=SERVER, max_connection_age="2"), "RWS-LIMIT-1")

    def test_request_before_the_limit_still_owed_an_outcome_at_close(self) -> None:
        """A request queued before the limit is not answered by the limit error for another."""
        events = run_events()
        t = Transcript().open().create().recv(*events[:3]).create().wait(5)
        t.create(stream_id="a").recv(*events[3:], LIMIT).close(direction="s2c", code=1001)
        report = check(t, roles=SERVER, max_connection_age="2")
        assert_only(report, "RWS-CREATE-12")
        queued_before_limit = 5
        assert [f.records[0] for f in report.findings] == [queued_before_limit]

    def test_limit_error_while_a_run_streams_warns_limit_11(self) -> None:
        """The limit error that answers a request waits for the runs in flight."""
        events = run_events()
        t = Transcript().open().create().recv(*events[:3]).wait(5).create(stream_id="a")
        t.recv(LIMIT, *events[3:]).close(direction="s2c", code=1001)
        assert_only(check(t, roles=SERVER, max_connection_age="2"), "RWS-LIMIT-11", WARNING)

    def test_limit_error_after_the_runs_in_flight_end_passes(self) -> None:
        """Held until the run's terminal event: a client cannot mistake it for the run's."""
        events = run_events()
        t = Transcript().open().create().recv(*events[:3]).wait(5).create(stream_id="a")
        t.recv(*events[3:], LIMIT).close(direction="s2c", code=1001)
        assert_clean(check(t, roles=SERVER, max_connection_age="2"), "RWS-LIMIT-11")


class TestSeveralDefects:
    """RWS-CREATE-17: a create with several defects may be answered with any one of them."""

    def test_stream_false_and_bad_type_answered_with_the_type_error_passes(self) -> None:
        """The schema error (RWS-CREATE-5) is as good an answer as unsupported_parameter."""
        t = Transcript().open().create(stream=False, top_p="x")
        t.recv(error_event("invalid_type", param="top_p"))
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-18", "RWS-CREATE-5")

    def test_stream_false_and_bad_type_answered_with_unsupported_parameter_passes(self) -> None:
        """... and so is unsupported_parameter naming stream (RWS-CREATE-20)."""
        t = Transcript().open().create(stream=False, top_p="x")
        t.recv(error_event("unsupported_parameter", param="stream"))
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-18")

    def test_stream_false_and_background_true_either_param_passes(self) -> None:
        """Two refusable members: the param names either."""
        t = Transcript().open().create(stream=False, background=True)
        t.recv(error_event("unsupported_parameter", param="background"))
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-18", "RWS-CREATE-19")

    def test_unsupported_parameter_naming_a_field_without_defect_breaks_create_18(self) -> None:
        """The error names a defect the request has."""
        t = Transcript().open().create(stream=False, top_p="x")
        t.recv(error_event("unsupported_parameter", param="top_p"))
        assert_only(check(t, roles=SERVER), "RWS-CREATE-18")

    def test_request_with_a_defect_and_stream_false_served_breaks_the_defect_only(self) -> None:
        """No run for a schema defect; ignoring stream: false was permitted (D4)."""
        t = Transcript().open().create(stream=False, top_p="x").recv(*run_events())
        report = check(t, roles=SERVER)
        assert {f.requirement for f in report.findings} == {"RWS-CREATE-5"}


def test_client_event_whose_type_is_an_array_expects_unknown_event_type() -> None:
    """A "type" that is not a string is an unknown type, not a checker error."""
    t = Transcript().open().send('{"type": []}')
    t.recv(error_event("unknown_event_type", param="type"))
    report = check(t, roles=SERVER)
    assert_clean(report, "RWS-CREATE-11")
