"""Server events and canonical JSON are encoded with orjson, and the text is the json module's.

``run_events.dumps`` takes orjson's text only where it is the same as
``json.dumps(event, ensure_ascii=False, separators=(",", ":"))``, the encoding every event had
before (what goes on the wire does not change), and ``canonical_json`` only where it is the same
with ``sort_keys=True`` (A.1: what token counts and digests are computed from): these tests
compare them on every code point, on floats of every decimal exponent, on integers of any size
and on arbitrary JSON.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_impl.model import Context, canonical_json
from reference_impl.run_events import dumps

__all__: list[str] = []


def _reference(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _canonical_reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def test_every_code_point_is_written_as_the_json_module_writes_it() -> None:
    """Control characters, quotes, backslashes, U+2028, non-BMP: one string of them all."""
    text = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    assert dumps({"delta": text}) == _reference({"delta": text})


def test_floats_of_every_decimal_exponent_are_written_as_repr_writes_them() -> None:
    """orjson writes 1e-05 as 0.00001 and 1e-09 as 1e-9: those go through the json module."""
    mantissas = (1.0, 1.5, 2.220446049250313, 3.3333333333333335, 9.999999999999998)
    for exponent in range(-324, 309):
        for mantissa in mantissas:
            value = (
                mantissa * 10.0**exponent if exponent > -300 else float(f"{mantissa}e{exponent}")
            )
            if not math.isfinite(value):
                continue
            for number in (value, -value):
                assert dumps({"temperature": number}) == _reference({"temperature": number})
    for number in (0.0, -0.0, 5e-324, 1e-4, 9.999999999999999e-05, 1e16, 1.7976931348623157e308):
        assert dumps({"values": [number]}) == _reference({"values": [number]})


def test_integers_beyond_64_bits_and_deep_nesting_are_written_too() -> None:
    """orjson refuses them; the json module writes them."""
    for number in (2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 10**40):
        assert dumps({"n": number}) == _reference({"n": number})
    deep: list[Any] = []
    for _ in range(300):
        deep = [deep]
    assert dumps({"deep": deep}) == _reference({"deep": deep})


def test_text_that_looks_like_a_float_exponent_is_written_as_it_is() -> None:
    """Model ids (conformance-1), numbers in strings: the guard's look-alikes."""
    for text in ("conformance-1", "1e-5", "v2e-1", "0.00001", "x9e-9y", "e-", "9e-10"):
        assert dumps({"model": text}) == _reference({"model": text})


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), children, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_any_json_value_is_written_as_the_json_module_writes_it(value: Any) -> None:
    """What json.loads makes (NaN and Infinity are refused by the session's parser)."""
    assert dumps({"value": value}) == _reference({"value": value})


def test_a_float_exponent_after_many_dashes_is_still_found() -> None:
    """The look-alike scan walks a few dashes, then searches the rest two bytes at a time."""
    for dashes in (0, 1, 3, 4, 5, 200):
        event = {"delta": "-" * dashes, "values": [1e-9, 2.5e-07]}
        assert dumps(event) == _reference(event)
        before = {"values": [1e-9], "delta": "x-" * dashes}
        assert dumps(before) == _reference(before)


_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]))
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), _SCALAR, max_size=6))
def test_a_long_object_of_scalars_is_written_as_the_json_module_writes_it(
    fields: dict[str, Any],
) -> None:
    """A long object of strings, integers, booleans and nulls is not scanned for float
    look-alikes (it holds no float); one with a float is, as are shorter ones."""
    event = {"output": "x-" * 400, **fields}
    assert dumps(event) == _reference(event)
    assert canonical_json(event) == _canonical_reference(event)


def test_a_long_object_with_a_float_is_still_scanned() -> None:
    """The floats orjson writes otherwise, in a long object of scalars and nested in one."""
    for number in (1e-05, 1e-09, -2.5e-10):
        for event in (
            {"output": "e-" * 400, "n": number},
            {"output": "0.0000" * 200, "values": [number]},
            {"output": "x" * 800, "nested": {"n": number}},
        ):
            assert dumps(event) == _reference(event)
            assert canonical_json(event) == _canonical_reference(event)


def test_a_dash_after_an_e_is_still_looked_at() -> None:
    """The one-byte look before each dash: an exponent right after a few dashes of text."""
    for prefix in ("-", "--", "a-b-", "e-e-", "re-run "):
        event = {"delta": prefix, "values": [3e-7]}
        assert dumps(event) == _reference(event)


def test_canonical_json_sorts_keys_in_code_point_order() -> None:
    """Keys beyond the BMP sort after U+FFFF in code point (and UTF-8) order, not UTF-16's."""
    keys = ["a", "B", "\u00e9", "\uffff", "\U00010000", "\ud7ff", "\ue000", "", "aa", "\x00"]
    value = {key: index for index, key in enumerate(keys)}
    assert canonical_json(value) == _canonical_reference(value)
    assert canonical_json({"k": value, "a": [value]}) == _canonical_reference(
        {"k": value, "a": [value]}
    )


def test_canonical_json_of_floats_big_integers_and_contexts() -> None:
    """The float look-alikes and integers beyond 64 bits go through the json module; a Context
    is written as the array of its items."""
    for number in (1e-05, 1e-09, -2.5e-10, 1e16, 0.1, 2**64, -(2**63) - 1, 10**40):
        assert canonical_json({"b": number, "a": 1}) == _canonical_reference({"b": number, "a": 1})
    items = [{"type": "message", "role": "user", "content": "hi", "b": 1e-7}]
    assert canonical_json(Context(items)) == _canonical_reference(items)
    assert canonical_json([Context(items)]) == _canonical_reference([items])


def test_canonical_json_keeps_the_json_modules_errors() -> None:
    """What the json module refuses is refused the same way (an item of a foreign type)."""
    with pytest.raises(TypeError):
        canonical_json({"a": {1, 2}})
    with pytest.raises(TypeError):
        canonical_json({"a": object()})


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_any_json_value_is_written_canonically_as_the_json_module_writes_it(value: Any) -> None:
    """A.1's canonical JSON, the same text whatever writes it."""
    assert canonical_json({"value": value}) == _canonical_reference({"value": value})
