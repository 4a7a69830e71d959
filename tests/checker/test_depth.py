"""Deep nesting (RWS-CREATE-21, D18) and the age limit's queued requests (RWS-LIMIT-12)."""

from __future__ import annotations

import json

import pytest

from conformance.checker.depth import TOO_DEEP, nesting_depth, shallow_loads
from tests.checker.synth import (
    Transcript,
    assert_clean,
    assert_only,
    check,
    error_event,
    run_events,
)

__all__: list[str] = []

SERVER = ("server",)
LIMIT = error_event("websocket_connection_limit_reached")


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def deep_create(depth: int, field: str = "input") -> str:
    return (
        '{"type":"response.create","model":"conformance-1","' + field + '":' + nested(depth) + "}"
    )


class TestNestingDepth:
    def test_counts_arrays_and_objects(self) -> None:
        assert nesting_depth('{"a": [{"b": [1]}]}') == 4
        assert nesting_depth("[]") == 1
        assert nesting_depth('"plain"') == 0

    def test_brackets_inside_strings_do_not_count(self) -> None:
        assert nesting_depth('{"a": "[[[[{{{{", "b": "\\"[["}') == 1

    def test_stops_past_the_limit(self) -> None:
        assert nesting_depth(nested(20000), stop_at=128) == 129

    def test_few_brackets_are_not_scanned(self) -> None:
        assert nesting_depth(nested(5), stop_at=128) == 0


class TestShallowLoads:
    def test_deep_value_is_replaced(self) -> None:
        value = shallow_loads(deep_create(20000), 3)
        assert value["type"] == "response.create"
        assert value["input"] == [[TOO_DEEP]]

    def test_shallow_text_is_unchanged(self) -> None:
        text = '{"a": [1, {"b": "x]"}], "c": null}'
        assert shallow_loads(text, 128) == json.loads(text)

    @pytest.mark.parametrize("text", ["[[1]", "[1]]", '["abc', "{[}]x"])
    def test_not_json_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"\w"):
            shallow_loads(text, 1)


class TestDeepMessages:
    """RWS-CREATE-21: past 128 levels, invalid_json or the request's own answer."""

    def test_invalid_json_answers_a_deep_create(self) -> None:
        t = Transcript().open().send(deep_create(20000)).recv(error_event("invalid_json"))
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-21")

    def test_request_error_answers_a_deep_create(self) -> None:
        t = Transcript().open().send(deep_create(20000))
        t.recv(error_event("invalid_value", param="input"))
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-21")

    def test_deep_create_then_a_run_keeps_lane_order(self) -> None:
        """The frame-scoped answer consumes the deep request, not the next one."""
        t = Transcript().open().send(deep_create(300)).create()
        t.recv(error_event("invalid_json"), *run_events())
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-21", "RWS-CREATE-12")

    def test_run_for_an_invalid_deep_create_breaks_create_5(self) -> None:
        """Its shallow reading (input an array of arrays) fails the schema: no run."""
        t = Transcript().open().send(deep_create(20000)).recv(*run_events())
        assert_only(check(t, roles=SERVER), "RWS-CREATE-5")

    def test_run_for_a_valid_deep_create_passes(self) -> None:
        """A deep value in an open member: a parser that reads it may serve the request."""
        text = deep_create(300, field="metadata_x").replace('"metadata_x":', '"text":{"x":')
        t = Transcript().open().send(text[:-1] + "}}").recv(*run_events())
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-21")

    def test_other_error_for_a_deep_create_breaks_it(self) -> None:
        """unknown_event_type answers no deep create: the request is left without outcome."""
        t = Transcript().open().send(deep_create(20000))
        t.recv(error_event("unknown_event_type", param="type")).close(direction="s2c")
        assert_only(check(t, roles=SERVER), "RWS-CREATE-12")

    def test_deep_array_gets_invalid_json_either_way(self) -> None:
        t = Transcript().open().send(nested(20000)).recv(error_event("invalid_json"))
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-9")

    def test_deep_object_of_unknown_type_may_get_invalid_json(self) -> None:
        text = '{"type":"x.unknown","a":' + nested(300) + "}"
        t = Transcript().open().send(text).recv(error_event("invalid_json"))
        assert_clean(check(t, roles=SERVER), "RWS-CREATE-21")

    def test_shallow_object_of_unknown_type_must_get_unknown_event_type(self) -> None:
        t = Transcript().open().send('{"type":"x.unknown"}').recv(error_event("invalid_json"))
        assert_only(check(t, roles=SERVER), "RWS-CREATE-11")


class TestQueuedAtTheAgeLimit:
    """RWS-LIMIT-12: a request queued before the limit never starts after it."""

    def test_queued_request_started_after_the_limit_breaks_limit_12(self) -> None:
        first = run_events(rid="resp_a")
        t = Transcript().open().create().recv(*first[:3]).create().wait(5)
        t.recv(*first[3:], *run_events(rid="resp_b"))
        assert_only(check(t, roles=SERVER, max_connection_age="2"), "RWS-LIMIT-12")

    def test_queued_request_answered_with_the_limit_error_passes(self) -> None:
        first = run_events(rid="resp_a")
        t = Transcript().open().create().recv(*first[:3]).create().wait(5)
        t.recv(*first[3:], LIMIT).close(direction="s2c", code=1001)
        assert_clean(check(t, roles=SERVER, max_connection_age="2"), "RWS-LIMIT-2")

    def test_queued_request_started_before_the_limit_passes(self) -> None:
        t = Transcript().open().create().create().recv(*run_events(rid="resp_a"))
        t.recv(*run_events(rid="resp_b")).wait(5)
        assert_clean(check(t, roles=SERVER, max_connection_age="2"), "RWS-CREATE-12")
