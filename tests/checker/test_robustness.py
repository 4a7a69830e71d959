"""The checker never raises on arbitrary input, and never fails internally: it reports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.checker import Checker, CheckerConfig
from conformance.schemas import server_event_types
from conformance.transcript import Record
from tests.checker.synth import ALL_PROFILES, Message, Refusal, run_events

__all__: list[str] = []

EVENT_TYPES = sorted(server_event_types() | {"response.create", "response.steer"})
KEYS = ["output_index", "content_index", "summary_index", "command_index", "item_id",
        "sequence_number", "stream_id", "delta", "text", "arguments", "previous_response_id",
        "store", "generate", "input", "item", "part", "response", "error", "status", "steer",
        "annotation_index", "annotation"]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def event_like(draw: st.DrawFn) -> dict[str, Any]:
    """A dict with a real event type and a few plausible keys with arbitrary values."""
    event: dict[str, Any] = {"type": draw(st.sampled_from(EVENT_TYPES))}
    event.update(draw(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)))
    if draw(st.booleans()):
        event["sequence_number"] = draw(st.integers(-1, 40))
    return event


@st.composite
def records(draw: st.DrawFn) -> Any:
    """A record in any of the shapes feed accepts, valid or not."""
    choice = draw(st.integers(0, 5))
    conn = draw(st.sampled_from(["c1", "c2"]))
    if choice == 0:
        return draw(json_values)
    if choice == 1:
        return draw(st.text(max_size=30) | st.binary(max_size=30))
    if choice == 2:
        kind = draw(st.sampled_from(["open", "close", "rejected", "binary", "text", "bogus"]))
        return {"conn": conn, "kind": kind, "dir": draw(st.sampled_from(["c2s", "s2c", None])),
                "b64": "AAE=", "code": draw(st.integers(999, 4001))}  # fmt: skip
    direction = draw(st.sampled_from(["c2s", "s2c"]))
    payload: Any = draw(event_like()) if choice < 5 else draw(json_values)
    text = json.dumps(payload) if draw(st.booleans()) or choice < 5 else str(payload)
    return {"conn": conn, "kind": "text", "dir": direction, "text": text}


def internal_errors(checker: Checker) -> list[str]:
    return [f.message for f in checker.recorder.findings if f.message.startswith("checker error")]


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), max_size=25))
def test_checker_reports_instead_of_raising_on_arbitrary_records(batch: list[Any]) -> None:
    """Random JSON, random event-like dicts and binary go through feed and finish."""
    checker = Checker(CheckerConfig.make(profiles=ALL_PROFILES, busy_lane="reject"))
    for record in batch:
        checker.feed(record)
    report = checker.finish()
    assert report.records == len(batch)
    assert internal_errors(checker) == []


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_checker_survives_shuffled_and_mutated_runs(data: st.DataObject) -> None:
    """A real run with events dropped, duplicated, reordered or mutated is reported on."""
    events = run_events([Message("Hello there."), Refusal("No.")], stream_id="a")
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["drop", "dup", "swap", "mutate"]))
        i = data.draw(st.integers(0, len(events) - 1))
        if op == "drop" and len(events) > 1:
            del events[i]
        elif op == "dup":
            events.insert(i, dict(events[i]))
        elif op == "swap":
            j = data.draw(st.integers(0, len(events) - 1))
            events[i], events[j] = events[j], events[i]
        else:
            key = data.draw(st.sampled_from(KEYS))
            events[i] = {**events[i], key: data.draw(json_values)}
    checker = Checker(CheckerConfig.make(profiles=ALL_PROFILES))
    checker.feed(Record(index=0, kind="open", conn="c1"))
    checker.feed(Record.message(1, "c1", "c2s", {"type": "response.create", "stream_id": "a"}))
    for n, event in enumerate(events):
        checker.feed(Record.message(n + 2, "c1", "s2c", event))
    checker.finish()
    assert internal_errors(checker) == []
