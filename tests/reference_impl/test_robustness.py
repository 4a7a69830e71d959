"""RWS-LIMIT-6: whatever a client sends, the session answers and lives on.

Hypothesis generates arbitrary text, arbitrary JSON and mutated ``response.create`` events;
the session must never raise, must answer every message that is not a valid run request
with exactly one error or steering reply, and must still serve a normal turn afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import schemas
from tests.reference_impl.driver import TERMINAL_TYPES, Driver, create, terminal

__all__: list[str] = []

pytestmark = pytest.mark.slow

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

FIELDS = [
    "model",
    "input",
    "stream_id",
    "previous_response_id",
    "store",
    "generate",
    "stream",
    "background",
    "instructions",
    "max_output_tokens",
    "temperature",
    "metadata",
    "tools",
]

steers = st.builds(
    lambda changes: {"type": "response.steer", **changes},
    st.dictionaries(st.sampled_from(["previous_response_id", "input", "stream_id"]), json_values),
)

mutated_creates = st.builds(
    lambda base, changes: {**base, **changes},
    st.just(create("rws:text length=5")),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3),
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcomes(events: list[dict[str, Any]]) -> int:
    """Count request outcomes: terminal events and errors."""
    return sum(e["type"] in TERMINAL_TYPES or e["type"] == "error" for e in events)


def all_valid(events: list[dict[str, Any]]) -> bool:
    """RWS-EVENT-1: every answer validates against its schema, whatever the input."""
    return all(schemas.is_valid(event, direction="server") for event in events)


def still_serves(driver: Driver) -> None:
    assert driver.closed is None
    assert terminal(driver.turn(create()))["type"] == "response.completed"


@FAST
@given(st.text())
def test_session_survives_any_text(text: str) -> None:
    """Any text message gets one answer and leaves the session usable."""
    driver = Driver()
    events = driver.turn(text)
    assert len(events) >= 1
    assert all_valid(events)
    still_serves(driver)


@FAST
@given(json_values)
def test_session_survives_any_json(value: Any) -> None:
    """Any JSON value gets an answer and leaves the session usable."""
    driver = Driver()
    events = driver.turn(json.dumps(value))
    assert len(events) >= 1
    assert all_valid(events)
    still_serves(driver)


@FAST
@given(mutated_creates)
def test_session_answers_every_create_with_exactly_one_outcome(event: dict[str, Any]) -> None:
    """RWS-CREATE-12: one run or one error per response.create, whatever its fields."""
    driver = Driver()
    events = driver.turn(json.dumps(event))
    assert outcomes(events) == 1, [e["type"] for e in events]
    assert all_valid(events)
    if events[0]["type"] != "error":
        assert events[0]["type"] == "response.created"
    still_serves(driver)


@FAST
@given(steers)
def test_session_answers_every_steer_with_one_valid_reply(event: dict[str, Any]) -> None:
    """RWS-STEER-1: one response.steer.failed, valid against its schema, for any steer."""
    (reply,) = Driver().turn(json.dumps(event))
    assert reply["type"] == "response.steer.failed"
    assert all_valid([reply])
