"""The mutation strategies produce what they claim, with answers taken from the error registry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.fuzz.client import Frame
from conformance.fuzz.mutations import (
    MUTATIONS,
    Mutation,
    close_codes_for,
    codes_for,
    error_registry,
    mutations,
)
from conformance.fuzz.oracle import uncovered_request_codes
from conformance.schemas import default_schema_set

__all__: list[str] = []

SCHEMAS = default_schema_set()
SOME = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def _json(frame: Frame) -> Any:
    return json.loads(frame.payload.decode("utf-8"))


def _is_json(frame: Frame) -> bool:
    try:
        _json(frame)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def kind(name: str) -> st.SearchStrategy[Mutation]:
    return MUTATIONS[name]("conformance-1")


def test_every_expected_code_comes_from_the_error_registry() -> None:
    registry = error_registry()
    codes = set(registry["codes"])
    for requirement in ("RWS-CREATE-9", "RWS-CREATE-10", "RWS-CREATE-11", "RWS-LANE-3"):
        found = codes_for(requirement)
        assert len(found) == 1, requirement
        assert found <= codes
        assert registry["codes"][next(iter(found))]["scope"] in ("frame", "request")
    assert codes_for("RWS-CREATE-5") >= {"invalid_type", "invalid_value"}
    assert close_codes_for("not valid UTF-8") == {1007}


def test_every_request_scoped_code_has_a_condition_in_the_oracle() -> None:
    assert uncovered_request_codes() == frozenset()


@SOME
@given(mutations())
def test_every_mutation_expects_a_known_answer(mutation: Mutation) -> None:
    expected = mutation.expected
    assert mutation.kind in MUTATIONS
    assert mutation.frames
    if expected.kind == "close":
        assert expected.close
        assert {str(c) for c in expected.close} <= set(error_registry()["close_codes"])
    elif expected.kind in ("errors", "outcome_error", "steer"):
        assert expected.codes
    assert expected.requirements or expected.kind == "close"


@SOME
@given(st.one_of(kind("malformed_json"), kind("concatenated")))
def test_malformed_and_concatenated_frames_are_not_json(mutation: Mutation) -> None:
    (frame,) = mutation.frames
    assert frame.kind == "text"
    assert frame.valid_utf8()
    assert not _is_json(frame)
    assert mutation.expected.codes == codes_for("RWS-CREATE-9")


@SOME
@given(kind("concatenated"))
def test_concatenated_frames_hold_two_valid_events(mutation: Mutation) -> None:
    first, second = mutation.event
    text = mutation.frames[0].payload.decode()
    assert SCHEMAS.is_valid(first)
    assert SCHEMAS.is_valid(second)
    decoder = json.JSONDecoder()
    head, end = decoder.raw_decode(text)
    assert head == first
    assert json.loads(text[end:]) == second


@SOME
@given(kind("non_object_json"))
def test_non_object_json_is_json_but_not_an_object(mutation: Mutation) -> None:
    (frame,) = mutation.frames
    assert not isinstance(_json(frame), dict)


@SOME
@given(kind("split"))
def test_split_frames_are_halves_of_one_valid_event(mutation: Mutation) -> None:
    first, second = mutation.frames
    assert not _is_json(first)
    assert not _is_json(second)
    joined = json.loads((first.payload + second.payload).decode())
    assert joined == mutation.event
    assert SCHEMAS.is_valid(joined)
    assert mutation.expected.count == 2


@SOME
@given(kind("binary"))
def test_binary_mutations_send_binary_frames(mutation: Mutation) -> None:
    assert [f.kind for f in mutation.frames] == ["binary"]
    assert mutation.expected.codes == codes_for("RWS-CREATE-10")


@SOME
@given(kind("invalid_utf8"))
def test_invalid_utf8_mutations_are_text_frames_that_do_not_decode(mutation: Mutation) -> None:
    (frame,) = mutation.frames
    assert frame.kind == "text"
    assert not frame.valid_utf8()
    assert mutation.expected.kind == "close"


@SOME
@given(kind("unknown_type"))
def test_unknown_type_mutations_have_no_client_event_type(mutation: Mutation) -> None:
    event = _json(mutation.frames[0])
    event_type = event.get("type")
    assert not isinstance(event_type, str) or event_type not in SCHEMAS.client_event_types()


@SOME
@given(kind("missing_required"))
def test_missing_required_mutations_lack_a_required_field(mutation: Mutation) -> None:
    event = _json(mutation.frames[0])
    event_type = event.get("type", "response.create")
    required = SCHEMAS.schema_for(event_type)["required"]
    assert not set(required) <= set(event)
    assert not SCHEMAS.is_valid(event) or "type" not in event


@SOME
@given(kind("bad_stream_id"))
def test_bad_stream_ids_break_the_lane_grammar(mutation: Mutation) -> None:
    event = _json(mutation.frames[0])
    assert event["stream_id"] is not None
    assert not SCHEMAS.is_valid(event)
    assert not SCHEMAS.is_valid({"type": "response.create", "stream_id": event["stream_id"]})
    assert mutation.expected.codes == codes_for("RWS-LANE-3")


@SOME
@given(st.one_of(kind("wrong_type"), kind("bad_value"), kind("wrapped")))
def test_wrong_types_and_values_fail_the_create_schema(mutation: Mutation) -> None:
    event = _json(mutation.frames[0])
    assert event["type"] == "response.create"
    assert not SCHEMAS.is_valid(event)
    assert mutation.expected.kind == "outcome_error"
    assert mutation.expected.codes == codes_for("RWS-CREATE-5")


@SOME
@given(kind("unknown_field"))
def test_unknown_fields_are_outside_the_schema_properties(mutation: Mutation) -> None:
    event = _json(mutation.frames[0])
    names = set(SCHEMAS.schema_for(event["type"])["properties"])
    assert set(event) - names
    if event["type"] == "response.create":
        # RWS-CREATE-4: still a valid create (the schema is open).
        assert SCHEMAS.is_valid(event)
    else:
        assert not SCHEMAS.is_valid(event)  # response.steer is closed (RWS-STEER-5)


@SOME
@given(st.one_of(kind("huge_string"), kind("huge_array")))
def test_huge_mutations_are_big_valid_events_below_one_mebibyte(mutation: Mutation) -> None:
    (frame,) = mutation.frames
    assert len(frame.payload) < 1024 * 1024
    event = _json(frame)
    assert SCHEMAS.is_valid(event)
    sizes = [len(v) for v in event.values() if isinstance(v, str | list)]
    if mutation.kind == "huge_string":
        assert max(len(v.encode()) for v in event.values() if isinstance(v, str)) >= 1000
    else:
        assert max(sizes) >= 50


@SOME
@given(kind("deep_nesting"))
def test_deep_nesting_mutations_are_valid_and_nested(mutation: Mutation) -> None:
    event = _json(mutation.frames[0])
    assert SCHEMAS.is_valid(event)
    assert max(_depth(v) for v in event.values()) >= 2


@SOME
@given(kind("lone_surrogate"))
def test_lone_surrogates_are_valid_utf8_but_not_unicode(mutation: Mutation) -> None:
    (frame,) = mutation.frames
    assert frame.valid_utf8()
    event = _json(frame)
    joined = "".join(v for v in event.values() if isinstance(v, str))
    with pytest.raises(UnicodeEncodeError):
        joined.encode("utf-8")


@SOME
@given(kind("stream_false"))
def test_stream_false_mutations_set_an_unsupported_parameter(mutation: Mutation) -> None:
    """D4: a streamed run or the refusal RWS-CREATE-20 permits."""
    event = _json(mutation.frames[0])
    assert event.get("stream") is False or event.get("background") is True
    assert mutation.expected.kind == "outcome"
    assert mutation.expected.codes == codes_for("RWS-CREATE-20") == {"unsupported_parameter"}
