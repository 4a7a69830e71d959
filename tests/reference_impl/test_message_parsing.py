"""Client messages are parsed with orjson, and the event is exactly what the json module makes.

``validation.read_message`` takes orjson's value only where it is the one ``json.loads`` gives
(NaN and Infinity refused), which every message was parsed with before: these tests compare
the two - values of the same types, the same errors - on integers beyond 64 bits (which orjson
would make floats), lone surrogates, duplicate keys, deep nesting and arbitrary JSON written
in any style. They also check the ``bounded`` answer that lets ``check_create`` skip its walk:
whenever it is given, the walk finds nothing, so the request gets the same answer either way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_impl.errors import ProtocolError, RequestError
from reference_impl.validation import MAX_DEPTH, CreateRequest, check_create, read_message

__all__: list[str] = []


def _refuse(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity, as the server refuses them


def _reference(text: str) -> dict[str, Any]:
    value = json.loads(text, parse_constant=_refuse)
    assert isinstance(value, dict)
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not 1.0, nor True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) or (a != a and b != b)


def _create(**fields: Any) -> str:
    return json.dumps({"type": "response.create", "model": "conformance-1", **fields})


@pytest.mark.parametrize(
    "text",
    [
        _create(n=2**64),
        _create(n=-(2**63) - 1),
        _create(n=10**40, m=[1234567890123456789012]),
        _create(n=2**63 - 1, m=-(2**63), u=2**64 - 1),
        _create(f=[1e-05, 1.5e-300, 0.1, -0.0, 1e308, 123456789.123456789]),
        '{"type":"response.create","a":1,"b":2,"a":3}',
        '{"type":"response.create","x":"\\u00e9\\ud83d\\ude00\\u2028\\u0000"}',
        '  {\n"type" :\t"response.create" , "x" : [ 1 , { } , [ ] ] }\r\n',
        '{"type":"response.create","x":1E5,"y":-0,"z":1e400}',
    ],
)
def test_messages_parse_to_the_json_modules_value(text: str) -> None:
    """Big integers stay integers, key order and duplicate keys as the json module has them."""
    event, _ = read_message(text)
    assert _same(event, _reference(text))


def test_lone_surrogates_parse_as_before_and_are_not_bounded() -> None:
    """orjson refuses an escaped lone surrogate; the json module keeps it, and the walk of
    check_create refuses it with the field's name."""
    for escaped in ("\\ud800", "\\udc00", "\\udc00\\ud800", "\\ud800x"):
        text = '{"type":"response.create","model":"conformance-1","input":"' + escaped + '"}'
        event, bounded = read_message(text)
        assert _same(event, _reference(text))
        assert not bounded
        with pytest.raises(RequestError) as caught:
            check_create(event)
        assert caught.value.param == "input"
    # A lone surrogate in the text itself (never from a WebSocket, which decodes UTF-8).
    event, bounded = read_message('{"type":"response.create","input":"\ud800"}')
    assert event["input"] == "\ud800"
    assert not bounded


@pytest.mark.parametrize(
    "text", ["{", "[1]", '"x"', "1", "null", '{"a": NaN}', '{"a": -Infinity}', "{}", "\ufeff{}"]
)
def test_bad_messages_get_the_same_errors(text: str) -> None:
    """RWS-CREATE-9, RWS-CREATE-11: the same protocol error as before, for the same reason."""
    with pytest.raises(ProtocolError) as caught:
        read_message(text)
    try:
        value = json.loads(text, parse_constant=_refuse)
    except ValueError:
        assert caught.value.code == "invalid_json"
    else:
        expected = "unknown_event_type" if isinstance(value, dict) else "invalid_json"
        assert caught.value.code == expected


def test_nesting_is_bounded_by_the_brackets_of_the_message() -> None:
    """A message with at most MAX_DEPTH brackets is bounded; a deeper field never is."""
    shallow = _create(x="[{" * 10, y=[[[{"a": []}]]])
    assert read_message(shallow)[1]
    # Brackets in strings count too: such a message is walked, and passes the walk.
    event, bounded = read_message(_create(x="[" * (MAX_DEPTH + 1)))
    assert not bounded
    assert check_create(event).model == "conformance-1"
    at_limit = '{"type":"response.create","x":' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert read_message(at_limit + "}")[1]
    for depth in (MAX_DEPTH + 1, 300, 500):
        deep = '{"type":"response.create","x":' + "[" * depth + "]" * depth + "}"
        event, bounded = read_message(deep)
        assert not bounded
        with pytest.raises(RequestError) as caught:
            check_create(event)
        assert caught.value.param == "x"
        assert "nested deeper" in str(caught.value.message)
    too_deep = '{"type":"response.create","x":' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ProtocolError) as nested:
        read_message(too_deep)
    assert nested.value.code == "invalid_json"


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**60, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=30,
)


def _outcome(event: dict[str, Any], bounded: bool) -> CreateRequest | tuple[str, str | None]:
    try:
        return check_create(event, bounded=bounded)
    except RequestError as exc:
        return exc.code, exc.param


@settings(max_examples=300, deadline=None)
@given(
    fields=st.dictionaries(_TEXT, _JSON, max_size=4),
    ascii_only=st.booleans(),
    spaced=st.booleans(),
)
def test_any_message_parses_as_the_json_module_parses_it(
    fields: dict[str, Any], ascii_only: bool, spaced: bool
) -> None:
    """Any JSON, escaped or not, spaced or compact; a bounded event is checked as before."""
    separators = (", ", ": ") if spaced else (",", ":")
    event = {**fields, "type": "response.create", "model": "conformance-1"}
    text = json.dumps(event, ensure_ascii=ascii_only, separators=separators)
    parsed, bounded = read_message(text)
    assert _same(parsed, _reference(text))
    if bounded:
        assert _outcome(parsed, True) == _outcome(parsed, False)
