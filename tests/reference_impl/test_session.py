"""Sans-I/O tests of the session: every server rule of the core and multiplex profiles,
without sockets. Each class covers one area of the specification."""

from __future__ import annotations

from typing import Any

import pytest

from reference_impl import model
from reference_impl import session as session_module
from reference_impl.lanes import Lane
from reference_impl.model import run as run_module
from reference_impl.session import (
    LANE_TRANSITIONS,
    CostModel,
    LaneEvent,
    LaneState,
    Limits,
    Persist,
)
from reference_impl.store import ResponseStore
from tests.reference_impl.driver import Driver, create, of_lane, terminal

__all__: list[str] = []


def error_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    (event,) = events
    assert event["type"] == "error", event
    return event


def context_line(events: list[dict[str, Any]]) -> str:
    """The text of an ``rws:context`` answer."""
    (done,) = [e for e in events if e["type"] == "response.output_text.done"]
    text: str = done["text"]
    return text


def expected_context_line(context: list[dict[str, Any]]) -> str:
    return f"context items={len(context)} digest={model.context_digest(context)}"


class TestRun:
    """RWS-ORDER, RWS-SEQ, RWS-EVENT: the events of one run."""

    def test_server_streams_a_text_turn_from_created_to_completed(self) -> None:
        """A turn starts with response.created and ends with one response.completed."""
        events = Driver().turn(create("rws:text length=10 chunks=3"))
        assert events[0]["type"] == "response.created"
        assert events[0]["response"]["status"] == "in_progress"
        assert events[-1]["type"] == "response.completed"
        deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
        assert "".join(deltas) == model.pattern(10)
        assert len(deltas) == 3

    def test_server_numbers_events_of_a_run_from_zero_without_gaps(self) -> None:
        """Sequence numbers run 0, 1, 2... within each run and restart for the next."""
        driver = Driver()
        first = driver.turn(create("rws:text length=5"))
        second = driver.turn(create("rws:text length=5"))
        for events in (first, second):
            assert [e["sequence_number"] for e in events] == list(range(len(events)))

    def test_server_keeps_one_response_id_across_lifecycle_events(self) -> None:
        """RWS-EVENT-6: created, in_progress and the terminal event carry the same id."""
        events = Driver().turn(create())
        ids = {e["response"]["id"] for e in events if "response" in e}
        assert len(ids) == 1

    def test_server_omits_stream_id_on_the_default_lane(self) -> None:
        """RWS-EVENT-5: default-lane events carry no stream_id."""
        events = Driver().turn(create())
        assert all("stream_id" not in e for e in events)

    def test_server_tags_every_event_of_a_named_lane(self) -> None:
        """RWS-EVENT-4: every event of a run on a named lane carries its stream_id."""
        events = Driver().turn(create(stream_id="a"))
        assert {e.get("stream_id") for e in events} == {"a"}

    def test_server_treats_null_stream_id_as_the_default_lane(self) -> None:
        """RWS-CREATE-7: "stream_id": null is the default lane."""
        driver = Driver()
        events = driver.turn(create(stream_id=None))
        assert terminal(events)["type"] == "response.completed"
        assert all("stream_id" not in e for e in events)

    def test_server_echoes_settings_in_the_response(self) -> None:
        """The response object carries the request's model, instructions and store."""
        events = Driver().turn(create(instructions="be brief", store=False, metadata={"a": "b"}))
        response = terminal(events)["response"]
        assert response["model"] == "conformance-1"
        assert response["instructions"] == "be brief"
        assert response["store"] is False
        assert response["metadata"] == {"a": "b"}

    def test_server_ends_a_failing_run_with_response_failed(self) -> None:
        """RWS-ORDER-12: rws:fail ends the run with response.failed carrying an error."""
        events = Driver().turn(create("rws:text length=50 chunks=5\nrws:fail after=4"))
        end = terminal(events)
        assert end["type"] == "response.failed"
        assert end["response"]["error"]["code"] == "server_error"
        assert len(events) == 5


class TestGenerateFalse:
    """RWS-CREATE-6, RWS-CACHE-10: warm-up requests."""

    def test_server_completes_generate_false_with_no_output(self) -> None:
        """generate:false completes with empty output and zero output tokens."""
        events = Driver().turn(create("rws:text length=30", generate=False))
        end = terminal(events)
        assert end["type"] == "response.completed"
        assert end["response"]["output"] == []
        assert end["response"]["usage"]["output_tokens"] == 0
        assert not [e for e in events if e["type"] == "response.output_item.added"]

    def test_server_continues_from_a_generate_false_response(self) -> None:
        """The id of a warm-up is usable as previous_response_id; its context is its input."""
        driver = Driver()
        warm = terminal(driver.turn(create("prepared", generate=False, store=False)))
        events = driver.turn(
            create("rws:context", previous_response_id=warm["response"]["id"], store=False)
        )
        context = model.normalize_input("prepared") + model.normalize_input("rws:context")
        assert context_line(events) == expected_context_line(context)


class TestCache:
    """RWS-CACHE: the connection-scoped cache, hydration and eviction."""

    def test_server_continues_from_the_cache_with_previous_context_and_output(self) -> None:
        """RWS-CACHE-2: the context is the previous context, its output, then the new input."""
        driver = Driver()
        first = terminal(driver.turn(create("rws:text length=12", store=False)))
        events = driver.turn(
            create("rws:context", previous_response_id=first["response"]["id"], store=False)
        )
        context = [
            *model.normalize_input("rws:text length=12"),
            *first["response"]["output"],
            *model.normalize_input("rws:context"),
        ]
        assert context_line(events) == expected_context_line(context)

    def test_server_reports_restored_tokens_as_cached(self) -> None:
        """RWS-MODEL-3: cached_tokens are the tokens of the context restored from the cache."""
        driver = Driver()
        first = terminal(driver.turn(create("rws:text length=40", store=False)))
        second = terminal(
            driver.turn(create("next", previous_response_id=first["response"]["id"], store=False))
        )
        restored = [*model.normalize_input("rws:text length=40"), *first["response"]["output"]]
        usage = second["response"]["usage"]
        assert usage["input_tokens_details"]["cached_tokens"] == model.tokens(restored)
        assert first["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 0

    def test_server_answers_uncached_store_false_id_with_previous_response_not_found(
        self,
    ) -> None:
        """RWS-CACHE-4, RWS-CACHE-8: another connection's store=false response is not found."""
        first = terminal(Driver().turn(create(store=False)))
        error = error_of(
            Driver().turn(create("x", previous_response_id=first["response"]["id"], store=False))
        )
        assert error["status"] == 400
        assert error["error"]["code"] == "previous_response_not_found"
        assert error["error"]["param"] == "previous_response_id"
        assert "sequence_number" not in error

    def test_server_hydrates_a_stored_response_on_another_connection(self) -> None:
        """RWS-CACHE-3: a store=true response continues elsewhere with the same context."""
        store = ResponseStore(None)
        first = terminal(Driver(store=store).turn(create("rws:text length=8")))
        events = Driver(store=store).turn(
            create("rws:context", previous_response_id=first["response"]["id"])
        )
        context = [
            *model.normalize_input("rws:text length=8"),
            *first["response"]["output"],
            *model.normalize_input("rws:context"),
        ]
        assert context_line(events) == expected_context_line(context)
        # RWS-MODEL-3: nothing of a hydrated context counts as cached.
        assert terminal(events)["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 0

    def test_server_never_hydrates_another_api_keys_response(self) -> None:
        """RWS-LIMIT-5: a stored response is not found by a different API key."""
        store = ResponseStore(None)
        first = terminal(Driver(store=store, api_key="key-a").turn(create()))
        error = error_of(
            Driver(store=store, api_key="key-b").turn(
                create(previous_response_id=first["response"]["id"])
            )
        )
        assert error["error"]["code"] == "previous_response_not_found"

    def test_server_persists_before_the_terminal_event(self) -> None:
        """RWS-CACHE-11: the store write happens before the terminal event is sent."""
        driver = Driver()
        driver.send(create("rws:text length=3"))
        while driver.step_all():
            pass
        ((_, sent_before),) = driver.persisted
        events = driver.take()
        assert events[sent_before]["type"] == "response.completed"

    def test_run_cut_off_after_persisting_is_handed_back_for_deletion(self) -> None:
        """RWS-LIMIT-10: a run persisted but stopped before its terminal event is undone."""
        driver = Driver()
        driver.send(create("rws:text length=3"))
        (run_id,) = driver.runs
        step = driver.session.step(run_id, 0.0)
        assert isinstance(step, Persist)
        assert driver.session.run_cancelled(run_id) == step.record.response_id

    def test_finished_run_leaves_nothing_to_delete(self) -> None:
        """A run that sent its terminal event is not undone when its task ends."""
        driver = Driver()
        driver.send(create("rws:text length=3"))
        (run_id,) = driver.runs
        driver.settle()
        assert driver.session.run_cancelled(run_id) is None

    def test_server_does_not_persist_store_false_or_failed_responses(self) -> None:
        """Only continuable store=true responses are written."""
        driver = Driver()
        driver.turn(create(store=False))
        driver.turn(create("rws:fail after=2"))
        assert len(driver.store) == 0

    def test_server_evicts_the_lane_entry_after_a_failed_continuation(self) -> None:
        """RWS-CACHE-5: a continuation ending response.failed evicts its parent."""
        driver = Driver()
        first = terminal(driver.turn(create(store=False)))
        parent = first["response"]["id"]
        failed = terminal(
            driver.turn(create("rws:fail after=2", previous_response_id=parent, store=False))
        )
        assert failed["type"] == "response.failed"
        error = error_of(driver.turn(create(previous_response_id=parent, store=False)))
        assert error["error"]["code"] == "previous_response_not_found"

    def test_server_evicts_the_lane_entry_after_a_rejected_continuation(self) -> None:
        """RWS-CACHE-5: a request-scoped error on a continuation evicts its parent."""
        driver = Driver()
        parent = terminal(driver.turn(create(store=False)))["response"]["id"]
        rejected = error_of(
            driver.turn(create(previous_response_id=parent, temperature=9, store=False))
        )
        assert rejected["error"]["code"] == "invalid_value"
        assert rejected["error"]["param"] == "temperature"
        error = error_of(driver.turn(create(previous_response_id=parent, store=False)))
        assert error["error"]["code"] == "previous_response_not_found"

    def test_server_keeps_the_source_entry_after_a_failed_fork(self) -> None:
        """RWS-CACHE-6: a failed fork from another lane leaves the source entry cached."""
        driver = Driver()
        parent = terminal(driver.turn(create(store=False)))["response"]["id"]
        fork = terminal(
            driver.turn(
                create("rws:fail after=2", previous_response_id=parent, store=False, stream_id="f")
            )
        )
        assert fork["type"] == "response.failed"
        again = terminal(driver.turn(create(previous_response_id=parent, store=False)))
        assert again["type"] == "response.completed"

    def test_server_never_caches_a_failed_run(self) -> None:
        """RWS-CACHE-7: a failed run is not continuable; the lane keeps its entry."""
        driver = Driver()
        parent = terminal(driver.turn(create(store=False)))["response"]["id"]
        failed = terminal(driver.turn(create("rws:fail after=3", store=False)))
        error = error_of(driver.turn(create(previous_response_id=failed["response"]["id"])))
        assert error["error"]["code"] == "previous_response_not_found"
        kept = terminal(driver.turn(create(previous_response_id=parent, store=False)))
        assert kept["type"] == "response.completed"

    def test_server_replaces_the_lane_entry_with_its_latest_response(self) -> None:
        """RWS-CACHE-1: only each lane's latest response stays cached."""
        driver = Driver()
        older = terminal(driver.turn(create(store=False)))["response"]["id"]
        driver.turn(create(store=False))
        error = error_of(driver.turn(create(previous_response_id=older, store=False)))
        assert error["error"]["code"] == "previous_response_not_found"

    def test_server_caches_incomplete_responses(self) -> None:
        """RWS-CACHE-1: a response.incomplete run becomes its lane's entry too."""
        driver = Driver()
        end = terminal(driver.turn(create("rws:text length=10\nrws:incomplete", store=False)))
        assert end["type"] == "response.incomplete"
        nxt = terminal(driver.turn(create(previous_response_id=end["response"]["id"], store=False)))
        assert nxt["type"] == "response.completed"

    def test_server_forks_from_another_lanes_entry(self) -> None:
        """RWS-LANE-7: a new lane continues another lane's entry; both can continue."""
        driver = Driver()
        parent = terminal(driver.turn(create(store=False, stream_id="a")))["response"]["id"]
        fork = driver.turn(create(previous_response_id=parent, store=False, stream_id="b"))
        assert terminal(fork)["type"] == "response.completed"
        assert {e["stream_id"] for e in fork} == {"b"}
        source = driver.turn(create(previous_response_id=parent, store=False, stream_id="a"))
        assert terminal(source)["type"] == "response.completed"

    def test_stream_id_does_not_select_history(self) -> None:
        """RWS-LANE-8: reusing a lane without previous_response_id starts afresh."""
        driver = Driver()
        driver.turn(create("first", stream_id="a"))
        events = driver.turn(create("rws:context", stream_id="a"))
        assert context_line(events) == expected_context_line(model.normalize_input("rws:context"))


class TestLanes:
    """RWS-LANE: FIFO per lane, concurrency across lanes, limits."""

    def test_server_queues_requests_on_a_busy_lane_without_overlap(self) -> None:
        """RWS-LANE-1, RWS-LANE-2: the second run starts after the first one's terminal."""
        driver = Driver()
        driver.send(create("rws:text length=20 chunks=4\nrws:delay ms=10"))
        driver.send(create("rws:text length=20 chunks=4\nrws:delay ms=10"))
        events = driver.settle()
        types = [e["type"] for e in events]
        first_end = types.index("response.completed")
        assert types.count("response.created") == 2
        assert types.index("response.created", 1) == first_end + 1

    def test_server_runs_different_lanes_concurrently(self) -> None:
        """RWS-LANE-4: runs of two lanes interleave."""
        driver = Driver()
        directive = "rws:text length=20 chunks=4\nrws:delay ms=10"
        driver.send(create(directive, stream_id="a"))
        driver.send(create(directive, stream_id="b"))
        events = driver.settle()
        lanes = [e["stream_id"] for e in events]
        first_b = lanes.index("b")
        assert "a" in lanes[first_b:]  # a is still running when b starts
        for lane in ("a", "b"):
            numbers = [e["sequence_number"] for e in of_lane(events, lane)]
            assert numbers == list(range(len(numbers)))

    def test_server_caps_active_responses_and_queues_the_rest(self) -> None:
        """RWS-LANE-4: beyond max-active-responses, other lanes wait for a slot."""
        driver = Driver(limits=Limits(max_active_responses=2))
        for lane in "abc":
            driver.send(create("rws:text length=8 chunks=2\nrws:delay ms=5", stream_id=lane))
        created = [e["stream_id"] for e in driver.events if e["type"] == "response.created"]
        # A started run sends response.created at once; c waits for a slot.
        assert created == ["a", "b"]
        assert len(driver.runs) == 2
        events = driver.settle()
        types = [(e["type"], e["stream_id"]) for e in events]
        first_end = min(i for i, (t, _) in enumerate(types) if t == "response.completed")
        assert types.index(("response.created", "c")) > first_end

    def test_server_answers_invalid_stream_id_without_stream_id(self) -> None:
        """RWS-LANE-3: invalid_stream_id, param stream_id, no stream_id on the error."""
        driver = Driver()
        for bad in ("", "a b", "x" * 257, "é", 7):
            error = error_of(driver.turn(create(stream_id=bad)))
            assert error["error"]["code"] == "invalid_stream_id"
            assert error["error"]["param"] == "stream_id"
            assert "stream_id" not in error

    def test_server_without_multiplex_refuses_stream_id(self) -> None:
        """RWS-LANE-12: without lanes, a stream_id gets unsupported_parameter naming it."""
        driver = Driver(multiplex=False)
        error = error_of(driver.turn(create(stream_id="a")))
        assert error["error"]["code"] == "unsupported_parameter"
        assert error["error"]["param"] == "stream_id"
        assert error["stream_id"] == "a"
        # The default lane still serves, and a null stream_id is the default lane.
        assert terminal(driver.turn(create()))["type"] == "response.completed"
        assert terminal(driver.turn(create(stream_id=None)))["type"] == "response.completed"

    def test_server_accepts_every_valid_stream_id(self) -> None:
        """RWS-LANE-3: 1-256 ASCII letters, digits, '_', '-', '.'."""
        driver = Driver(limits=Limits(max_named_lanes=3))
        for good in ("a", "A-b_c.9", "z" * 256):
            assert terminal(driver.turn(create(stream_id=good)))["stream_id"] == good

    def test_server_rejects_lanes_beyond_the_limit_with_the_rejected_id(self) -> None:
        """RWS-LANE-5: websocket_stream_limit_reached carries the rejected stream_id."""
        driver = Driver(limits=Limits(max_named_lanes=2))
        driver.turn(create(stream_id="a"))
        driver.turn(create(stream_id="b"))
        error = error_of(driver.turn(create(stream_id="c")))
        assert error["error"]["code"] == "websocket_stream_limit_reached"
        assert error["error"]["param"] == "stream_id"
        assert error["stream_id"] == "c"
        # Known lanes and the default lane still work.
        assert terminal(driver.turn(create(stream_id="a")))["type"] == "response.completed"
        assert terminal(driver.turn(create()))["type"] == "response.completed"

    def test_server_rejects_a_busy_lane_with_the_reject_policy(self) -> None:
        """RWS-LANE-2: busy-lane=reject answers response_already_in_flight (409)."""
        driver = Driver(limits=Limits(busy_lane="reject"))
        driver.send(create("rws:delay ms=5", stream_id="a"))
        driver.step_all()
        assert [e["type"] for e in driver.take()] == ["response.created"]
        driver.send(create(stream_id="a"))
        error = error_of(driver.take())
        assert error["status"] == 409
        assert error["error"]["code"] == "response_already_in_flight"
        assert error["stream_id"] == "a"
        assert terminal(driver.settle())["type"] == "response.completed"

    def test_reject_policy_refuses_after_the_earlier_runs_first_event(self) -> None:
        """RWS-LANE-9: a refusal never overtakes the outcome of the request before it (the
        run's response.created, sent as the run starts, before its task has stepped) and
        refusals go out in request order."""
        driver = Driver(limits=Limits(busy_lane="reject"))
        driver.send(create("rws:delay ms=60\nrws:text length=12 chunks=3", store=False))
        driver.send(create("rws:text length=8", store=False))
        driver.send(create(12345))
        events = driver.take()
        assert [e["type"] for e in events] == ["response.created", "error", "error"]
        assert {e["error"]["code"] for e in events[1:]} == {"response_already_in_flight"}
        assert terminal(driver.settle())["type"] == "response.completed"

    def test_reject_policy_refuses_after_a_lookup_resolves(self) -> None:
        """RWS-LANE-9: while the lane's request is looked up in storage, a refusal waits for
        its outcome (here its run's response.created)."""
        store = ResponseStore(None)
        stored = terminal(Driver(store=store).turn(create()))["response"]["id"]
        driver = Driver(store=store, limits=Limits(busy_lane="reject"))
        driver.send(create("rws:delay ms=5", previous_response_id=stored))
        driver.send(create())
        assert len(driver.loads) == 1
        assert driver.take() == []
        driver.answer_loads()
        # The run starts with its response.created; the refusal follows it.
        assert [e["type"] for e in driver.take()] == ["response.created", "error"]

    def test_reject_policy_refuses_at_once_once_the_run_has_started(self) -> None:
        """RWS-LANE-2: after the run's first event, a refusal does not wait for its end."""
        driver = Driver(limits=Limits(busy_lane="reject"))
        driver.send(create("rws:delay ms=5\nrws:text length=12 chunks=3"))
        driver.step_all()
        driver.take()
        driver.send(create())
        assert error_of(driver.take())["error"]["code"] == "response_already_in_flight"

    def test_reject_policy_evicts_in_request_order(self) -> None:
        """RWS-CACHE-12, RWS-CACHE-5: a refused continuation evicts its parent only in its
        turn, after the earlier request (waiting for a slot) has resolved the same parent."""
        driver = Driver(limits=Limits(busy_lane="reject", max_active_responses=1))
        parent = terminal(driver.turn(create("rws:text length=3", store=False)))["response"]["id"]
        driver.send(create("rws:delay ms=5", stream_id="b"))
        driver.send(create("rws:context", previous_response_id=parent, store=False))
        driver.send(create(previous_response_id=parent, store=False))  # refused
        events = driver.settle()
        default = list(of_lane(events, None))
        assert [e["type"] for e in default][:2] == ["response.created", "error"]
        assert default[1]["error"]["code"] == "response_already_in_flight"
        assert terminal(default)["type"] == "response.completed"
        # The refused continuation came after, and evicted the parent as it was refused.
        again = error_of(driver.turn(create(previous_response_id=parent, store=False)))
        assert again["error"]["code"] == "previous_response_not_found"

    def test_server_answers_queued_requests_in_lane_order(self) -> None:
        """RWS-CREATE-12: an invalid request's error waits for the lane's earlier run."""
        driver = Driver()
        driver.send(create("rws:text length=4\nrws:delay ms=5", stream_id="a"))
        driver.send(create(stream_id="a", temperature="hot"))
        events = driver.settle()
        assert [e["type"] for e in events][-2:] == ["response.completed", "error"]
        assert events[-1]["stream_id"] == "a"
        assert events[-1]["error"]["code"] == "invalid_type"

    def test_error_on_one_lane_leaves_other_lanes_running(self) -> None:
        """RWS-LANE-6: a request-scoped error on one lane does not disturb another."""
        driver = Driver()
        parent = terminal(driver.turn(create(store=False, stream_id="b")))["response"]["id"]
        driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5", stream_id="a"))
        driver.step_all()
        driver.send(create(stream_id="c", previous_response_id="resp_missing"))
        events = driver.settle()
        assert terminal(list(of_lane(events, "a")))["type"] == "response.completed"
        again = driver.turn(create(previous_response_id=parent, store=False, stream_id="b"))
        assert terminal(again)["type"] == "response.completed"

    def test_lane_table_refuses_undefined_transitions(self) -> None:
        """The lane machine is a table; a missing transition raises and changes nothing."""
        lane = Lane("a")
        with pytest.raises(AssertionError):
            lane.fire(LaneEvent.END)
        assert lane.state is LaneState.IDLE
        assert (LaneState.RUNNING, LaneEvent.START) not in LANE_TRANSITIONS


class TestMessages:
    """RWS-CREATE: malformed messages and validation."""

    @pytest.mark.parametrize("text", ["{", "[1]", '"x"', "1", "null", '{"a": NaN}'])
    def test_server_answers_non_objects_with_invalid_json(self, text: str) -> None:
        """RWS-CREATE-9: invalid JSON or a non-object is invalid_json; the connection stays."""
        driver = Driver()
        error = error_of(driver.turn(text))
        assert error["error"]["code"] == "invalid_json"
        assert error["status"] == 400
        assert driver.closed is None
        assert terminal(driver.turn(create()))["type"] == "response.completed"

    @pytest.mark.parametrize("event", [{}, {"type": "response.cancel"}, {"type": 5}])
    def test_server_answers_unknown_event_types(self, event: dict[str, Any]) -> None:
        """RWS-CREATE-11: a missing or unsupported type is unknown_event_type."""
        driver = Driver()
        error = error_of(driver.turn(event))
        assert error["error"]["code"] == "unknown_event_type"
        assert driver.closed is None

    def test_server_answers_binary_frame_with_error(self) -> None:
        """RWS-CREATE-10: a binary message gets unsupported_frame_type, no close."""
        driver = Driver()
        driver.send_binary(b"\x00\x01")
        error = error_of(driver.take())
        assert error["error"]["code"] == "unsupported_frame_type"
        assert driver.closed is None

    def test_server_ignores_unknown_top_level_fields(self) -> None:
        """RWS-CREATE-4: unknown fields of response.create are ignored."""
        events = Driver().turn(create(x_vendor_field={"a": 1}, client_metadata={"t": "1"}))
        assert terminal(events)["type"] == "response.completed"

    @pytest.mark.parametrize(
        ("fields", "code", "param"),
        [
            ({"stream": False}, "unsupported_parameter", "stream"),
            ({"background": True}, "unsupported_parameter", "background"),
            ({"model": "gpt-x"}, "model_not_found", "model"),
            ({"model": ...}, "missing_required_parameter", "model"),
            ({"model": None}, "invalid_type", "model"),
            ({"model": 3}, "invalid_type", "model"),
            ({"input": 5}, "invalid_type", "input"),
            ({"input": [{"role": "user"}]}, "missing_required_parameter", "input[0].content"),
            ({"temperature": 3}, "invalid_value", "temperature"),
            ({"store": "yes"}, "invalid_type", "store"),
            ({"model": ..., "stream": False}, "unsupported_parameter", "stream"),
        ],
    )
    def test_server_rejects_invalid_requests_with_the_offending_param(
        self, fields: dict[str, Any], code: str, param: str
    ) -> None:
        """RWS-CREATE-20, RWS-CREATE-5: one error naming the field; no run starts."""
        driver = Driver()
        event = create(**fields)
        for name in [name for name, value in fields.items() if value is ...]:
            del event[name]  # ... marks a field left out
        error = error_of(driver.turn(event))
        assert error["error"]["code"] == code
        assert error["error"]["param"] == param
        assert error["status"] == (404 if code == "model_not_found" else 400)
        assert driver.runs == []

    def test_server_accepts_stream_true_and_null(self) -> None:
        """RWS-CREATE-18: stream absent, null or true is accepted."""
        driver = Driver()
        for stream in (True, None):
            assert terminal(driver.turn(create(stream=stream)))["type"] == "response.completed"

    def test_server_refuses_deeply_nested_input_and_lives_on(self) -> None:
        """RWS-LIMIT-6: input nested too deeply is refused; the session stays usable."""
        deep = "[" * 500 + "]" * 500
        driver = Driver()
        text = f'{{"type":"response.create","model":"conformance-1","x_deep":{deep}}}'
        error = error_of(driver.turn(text))
        assert error["error"]["code"] == "invalid_value"
        assert error["error"]["param"] == "x_deep"
        assert terminal(driver.turn(create()))["type"] == "response.completed"

    @pytest.mark.parametrize(
        "directive",
        [
            "rws:text length=1000000000",
            "rws:text length=1000001",
            "rws:refusal length=1000001",
            "rws:reasoning summary=600000 text=400001",
            "rws:call name=f arguments=" + "x" * 1_000_001,
            "rws:text length=500000\nrws:refusal length=500001",
            "rws:text length=100001 chunks=100001",
            "rws:reasoning summary=50001 text=50000 chunks=50001",
            "rws:refusal length=100 chunks=1\nrws:text length=300000 chunks=300000",
            "rws:text\n" * 100_001,
        ],
    )
    def test_server_refuses_runs_too_big_to_generate(self, directive: str) -> None:
        """RWS-LIMIT-6, A.5: more than 1,000,000 characters or 100,000 deltas is refused with
        invalid_value (param input), not attempted; the connection lives on."""
        driver = Driver()
        error = error_of(driver.turn(create(directive)))
        assert error["error"]["code"] == "invalid_value"
        assert error["error"]["param"] == "input"
        assert terminal(driver.turn(create("rws:text length=100000 chunks=1000")))

    @pytest.mark.parametrize(
        "directive",
        [
            "rws:text length=1000000 chunks=100000",
            "rws:text length=400000\nrws:reasoning summary=300000 text=300000",
        ],
    )
    def test_server_generates_runs_at_the_model_limits(self, directive: str) -> None:
        """A.5: exactly 1,000,000 characters in 100,000 deltas is still generated."""
        assert terminal(Driver().turn(create(directive)))["type"] == "response.completed"

    def test_server_refuses_a_context_grown_too_large(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """RWS-LIMIT-6: a chain whose context outgrows the cap is refused; the parent evicted."""
        monkeypatch.setattr(session_module, "MAX_CONTEXT_BYTES", 3000)
        driver = Driver()
        parent = terminal(driver.turn(create("x" * 1000, store=False)))["response"]["id"]
        error = error_of(driver.turn(create("y" * 2000, previous_response_id=parent, store=False)))
        assert error["error"]["code"] == "invalid_value"
        # RWS-CACHE-5: it was a continuation of its own lane's entry.
        again = error_of(driver.turn(create(previous_response_id=parent, store=False)))
        assert again["error"]["code"] == "previous_response_not_found"

    def test_server_answers_json_too_deep_to_parse_with_invalid_json(self) -> None:
        """RWS-LIMIT-6: nesting beyond the parser's depth is invalid_json, not a crash."""
        driver = Driver()
        error = error_of(driver.turn("[" * 100_000 + "]" * 100_000))
        assert error["error"]["code"] == "invalid_json"
        assert driver.closed is None

    def test_server_refuses_lone_surrogates(self) -> None:
        """Text that is not valid Unicode is refused instead of breaking the encoder."""
        driver = Driver()
        error = error_of(
            driver.turn('{"type":"response.create","model":"conformance-1","input":"\\ud800"}')
        )
        assert error["error"]["code"] == "invalid_value"
        assert error["error"]["param"] == "input"

    def test_server_answers_steer_with_steering_not_supported(self) -> None:
        """RWS-STEER-1: response.steer.failed, steering_not_supported, input echoed, no id."""
        driver = Driver(steering=False)
        driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5", stream_id="a"))
        driver.step_all()
        before = driver.take()
        target = before[0]["response"]["id"]
        driver.send({"type": "response.steer", "previous_response_id": target, "input": "hurry"})
        (reply,) = driver.take()
        # RWS-SEQ-1: the reply takes the running target's next number.
        assert reply["sequence_number"] == before[-1]["sequence_number"] + 1
        assert reply["type"] == "response.steer.failed"
        assert reply["error"]["code"] == "steering_not_supported"
        assert reply["steer"] == {"previous_response_id": target, "input": "hurry"}
        assert reply["stream_id"] == "a"
        # The target is unaffected: it completes, numbered on after the reply.
        events = driver.settle()
        assert terminal(events)["response"]["id"] == target
        numbers = [e["sequence_number"] for e in [*before, reply, *events]]
        assert numbers == list(range(len(numbers)))

    def test_server_answers_steer_for_an_unknown_target(self) -> None:
        """RWS-STEER-1: also without a running target, with no stream_id."""
        (reply,) = Driver(steering=False).turn(
            {
                "type": "response.steer",
                "previous_response_id": "resp_x",
                "input": [{"role": "user", "content": "a"}],
            }
        )
        assert reply["type"] == "response.steer.failed"
        assert reply["error"]["code"] == "steering_not_supported"
        assert "id" not in reply["steer"]
        assert "stream_id" not in reply
        assert reply["sequence_number"] == 0


class TestLimits:
    """RWS-LIMIT: connection age and idle time."""

    def test_server_refuses_new_runs_after_the_connection_age(self) -> None:
        """RWS-LIMIT-1, RWS-LIMIT-2: at the age limit the error is sent and the session closes."""
        driver = Driver(limits=Limits(max_connection_age=60))
        assert driver.session.next_deadline() == 60
        driver.advance(60)
        error = error_of(driver.take())
        assert error["error"]["code"] == "websocket_connection_limit_reached"
        assert "stream_id" not in error
        assert driver.closed is not None
        assert driver.closed.code == 1001

    def test_server_finishes_runs_in_flight_at_the_connection_age(self) -> None:
        """RWS-LIMIT-2: a run started before the limit completes, then error and 1001."""
        driver = Driver(limits=Limits(max_connection_age=60))
        driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5"))
        driver.step_all()
        driver.take()
        driver.advance(60)
        driver.send(create())  # refused, but the answer waits for the run (RWS-LIMIT-11)
        assert driver.closed is None
        events = driver.settle()
        assert terminal(events)["type"] == "response.completed"
        assert [e["type"] for e in events if e["type"] == "response.created"] == []
        # One error: the answer to the late request is also the one RWS-LIMIT-2 asks for.
        assert [e["type"] for e in events][-2:] == ["response.completed", "error"]
        assert events[-1]["error"]["code"] == "websocket_connection_limit_reached"
        assert driver.closed is not None
        assert driver.closed.code == 1001

    def test_server_holds_the_limit_error_until_the_runs_in_flight_end(self) -> None:
        """RWS-LIMIT-11: no limit error goes out between the events of a running run."""
        driver = Driver(limits=Limits(max_connection_age=60))
        driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5"))
        driver.send(create("rws:text length=8 chunks=8\nrws:delay ms=5", stream_id="b"))
        driver.step_all()
        driver.advance(60)
        for lane in (None, "late", "b"):
            driver.send(create(stream_id=lane))
            driver.step_all()
        events = driver.settle()
        types = [e["type"] for e in events]
        assert types.count("response.completed") == 2
        last_terminal = max(i for i, t in enumerate(types) if t == "response.completed")
        # Every late request is answered, each after both runs' terminal events.
        assert types[last_terminal + 1 :] == ["error"] * 3
        assert {e["error"]["code"] for e in events[last_terminal + 1 :]} == {
            "websocket_connection_limit_reached"
        }
        assert "error" not in types[:last_terminal]
        assert driver.closed is not None
        assert driver.closed.code == 1001

    def test_server_answers_queued_requests_at_the_connection_age(self) -> None:
        """RWS-LIMIT-1: requests queued behind a run never start; each gets the limit error."""
        driver = Driver(limits=Limits(max_connection_age=60))
        driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5"))
        driver.send(create())
        driver.send(create(previous_response_id="resp_x"))
        driver.step_all()
        driver.take()
        driver.advance(60)
        # RWS-LIMIT-11: their answers wait for the run in flight.
        assert driver.take() == []
        assert driver.closed is None
        events = driver.settle()
        assert [e["type"] for e in events if e["type"] == "response.created"] == []
        assert [e["type"] for e in events][-3:] == ["response.completed", "error", "error"]
        assert {e["error"]["code"] for e in events[-2:]} == {"websocket_connection_limit_reached"}
        assert driver.closed is not None
        assert driver.closed.code == 1001

    def test_server_answers_a_lookup_resolved_after_the_age_after_the_runs(self) -> None:
        """RWS-LIMIT-1, RWS-LIMIT-11: a storage lookup that ends after the limit starts no run;
        its answer waits for the run still in flight on another lane."""
        store = ResponseStore(None)
        first = Driver(store=store)
        stored = terminal(first.turn(create(store=True)))["response"]["id"]
        driver = Driver(store=store, limits=Limits(max_connection_age=60))
        driver.send(create("rws:text length=8 chunks=4\nrws:delay ms=5", stream_id="a"))
        driver.send(create(previous_response_id=stored))  # a miss here: looked up in storage
        assert len(driver.loads) == 1
        driver.step_one(driver.runs[0])
        assert [e["type"] for e in driver.take()] == ["response.created"]
        driver.advance(60)
        driver.answer_loads()
        assert driver.take() == []
        events = driver.settle()
        assert [e["type"] for e in events if e["type"] == "response.created"] == []
        assert [e["type"] for e in events][-2:] == ["response.completed", "error"]
        assert events[-1]["error"]["code"] == "websocket_connection_limit_reached"
        assert driver.closed is not None

    def test_server_closes_idle_connections_only_when_idle(self) -> None:
        """RWS-LIMIT-4: the idle timeout counts from the last message or run end."""
        driver = Driver(limits=Limits(idle_timeout=30))
        driver.advance(20)
        driver.send(create("rws:delay ms=5"))
        assert driver.session.next_deadline() == 3600  # a run is in flight: no idle timer
        driver.settle()
        driver.advance(29)
        assert driver.closed is None
        driver.advance(1)
        assert driver.closed is not None
        assert driver.closed.code == 1001


class TestCostModel:
    """The benchmark cost model: cached tokens cost nothing."""

    def test_cost_model_charges_uncached_input_and_output_tokens(self) -> None:
        """Prefill waits per uncached input token; decode per output token."""
        cost = CostModel(prefill_us_per_token=1000, decode_us_per_token=100)
        driver = Driver(cost=cost)
        first = terminal(driver.turn(create("rws:text length=400", store=False)))
        first_waits = driver.waits.pop(0)
        usage = first["response"]["usage"]
        assert first_waits[0] == pytest.approx(usage["input_tokens"] * 1e-3)
        assert first_waits[1] == pytest.approx(usage["output_tokens"] * 1e-4)
        second = terminal(
            driver.turn(create("more", previous_response_id=first["response"]["id"], store=False))
        )
        usage = second["response"]["usage"]
        uncached = usage["input_tokens"] - usage["input_tokens_details"]["cached_tokens"]
        assert driver.waits[1][0] == pytest.approx(uncached * 1e-3)
        assert uncached < usage["input_tokens"]

    def test_cost_model_is_off_by_default(self) -> None:
        """Without a cost model and without rws:delay nothing waits."""
        driver = Driver()
        driver.turn(create("rws:text length=400 chunks=8"))
        assert driver.waits == {}


class TestCreatedFirst:
    """response.created goes out as the run is accepted; the rest is built by its first step."""

    def test_created_is_sent_before_the_run_is_stepped(self) -> None:
        """The I/O layer can send response.created while the run is still to be generated."""
        driver = Driver()
        driver.send(create("rws:text length=40 chunks=4"))
        assert [e["type"] for e in driver.take()] == ["response.created"]
        assert len(driver.runs) == 1
        events = driver.settle()
        assert events[0]["type"] == "response.in_progress"
        assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))

    def test_output_limit_refuses_before_any_event(self) -> None:
        """A.5, RWS-LIMIT-6: a run past the model's limit gets invalid_value, no created."""
        driver = Driver()
        (error,) = driver.turn(create(f"rws:text length={model.MAX_RUN_CHARACTERS + 1}"))
        assert error["type"] == "error"
        assert error["error"]["code"] == "invalid_value"
        assert error["error"]["param"] == "input"

    def test_created_of_a_continuation_follows_the_lookup(self) -> None:
        """RWS-CACHE-12: the continuation's response.created names the resolved parent."""
        driver = Driver()
        parent = terminal(driver.turn(create("rws:text length=5")))["response"]["id"]
        driver.send(create("rws:text length=5", previous_response_id=parent))
        (created,) = driver.take()
        assert created["response"]["previous_response_id"] == parent
        assert terminal(driver.settle())["type"] == "response.completed"

    def test_a_failure_after_created_ends_the_run_failed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """RWS-LIMIT-6: if generating fails after response.created went out, the run ends with
        response.failed (server_error), is not cached, and the connection goes on."""

        def broken(**_: object) -> model.GeneratedRun:
            raise RuntimeError("generation failed")

        driver = Driver()
        with monkeypatch.context() as patch:
            patch.setattr(run_module, "_generate", broken)
            events = driver.turn(create("rws:text length=5"))
        assert [e["type"] for e in events] == ["response.created", "response.failed"]
        assert events[1]["response"]["error"]["code"] == "server_error"
        assert [e["sequence_number"] for e in events] == [0, 1]
        failed_id = events[1]["response"]["id"]
        (error,) = driver.turn(create(previous_response_id=failed_id))
        assert error["error"]["code"] == "previous_response_not_found"
        assert terminal(driver.turn(create()))["type"] == "response.completed"
