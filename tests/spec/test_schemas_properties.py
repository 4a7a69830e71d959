"""Property tests of the event schemas: envelope rules over generated values, tolerance of
unknown fields, and agreement of the fast (jsonschema-rs) and readable (jsonschema) validators
on mutated examples.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from conformance import schemas

__all__: list[str] = []

SCHEMAS = schemas.default_schema_set()
VALID = [e for e in SCHEMAS.examples() if e.valid]
SERVER_VALID = [e for e in VALID if e.event_type in SCHEMAS.server_event_types()]
STREAM_ID = re.compile(r"[A-Za-z0-9_.-]{1,256}")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def _fast_and_readable_agree(event: Any) -> bool:
    fast = schemas.is_valid(event)
    readable = schemas.errors(event) == []
    assert fast is readable, (event, schemas.errors(event))
    return fast


@given(
    example=st.sampled_from(VALID),
    name=st.text(min_size=1, max_size=20),
    value=json_values,
)
def test_unknown_fields_are_tolerated_except_on_response_steer(
    example: schemas.Example, name: str, value: Any
) -> None:
    schema = SCHEMAS.schema_for(example.event_type)
    if name in schema["properties"]:
        return
    event = dict(example.instance) | {name: value}
    # RWS-EVENT-3 / RWS-CREATE-4 tolerate unknown fields; RWS-STEER-5 closes response.steer.
    assert _fast_and_readable_agree(event) is (example.event_type != "response.steer")


@given(example=st.sampled_from(SERVER_VALID), stream_id=st.text(max_size=300))
@example(example=SERVER_VALID[0], stream_id="main\n")
@example(example=SERVER_VALID[0], stream_id="x" * 256)
@example(example=SERVER_VALID[0], stream_id="x" * 257)
@example(example=SERVER_VALID[0], stream_id="lane\u0661")
def test_stream_id_is_valid_exactly_when_it_matches_the_lane_pattern(
    example: schemas.Example, stream_id: str
) -> None:
    event = dict(example.instance) | {"stream_id": stream_id}
    # RWS-LANE-3: 1-256 ASCII letters, digits, '_', '-', '.'.
    assert _fast_and_readable_agree(event) is (STREAM_ID.fullmatch(stream_id) is not None)


@given(example=st.sampled_from(SERVER_VALID), number=st.integers() | st.text() | st.none())
def test_sequence_number_must_be_a_non_negative_integer(
    example: schemas.Example, number: int | str | None
) -> None:
    event = dict(example.instance) | {"sequence_number": number}
    expected = isinstance(number, int) and number >= 0
    assert _fast_and_readable_agree(event) is expected


@given(example=st.sampled_from(SERVER_VALID))
def test_sequence_number_is_optional_only_on_error(example: schemas.Example) -> None:
    event = {k: v for k, v in example.instance.items() if k != "sequence_number"}
    # RWS-SEQ-1 / RWS-SEQ-4.
    assert _fast_and_readable_agree(event) is (example.event_type == "error")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {k: (_replace(v, rest, value) if k == head else v) for k, v in node.items()}
    return [(_replace(v, rest, value) if i == head else v) for i, v in enumerate(node)]


@settings(max_examples=300)
@given(example=st.sampled_from(list(SCHEMAS.examples())), data=st.data())
def test_fast_and_readable_validators_agree_on_mutated_examples(
    example: schemas.Example, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(_paths(example.instance)[1:]))
    mutated = _replace(example.instance, path, data.draw(json_values))
    _fast_and_readable_agree(mutated)
