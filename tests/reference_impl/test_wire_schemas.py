"""RWS-EVENT-1: every event the server sends validates against the schema of its type.

The session's output for a spread of requests - every directive of the model, errors of each
scope, steering replies, limits - is checked with the suite's schema loader (tests may use
both packages; the server itself never imports the suite).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import schemas
from reference_impl.session import Limits
from tests.reference_impl.driver import Driver, create

__all__: list[str] = []

DIRECTIVES = [
    "hi",
    "rws:text length=50 chunks=7",
    "rws:refusal length=12 chunks=3",
    "rws:reasoning summary=20 text=10 chunks=2",
    'rws:call name=lookup chunks=3 arguments={"q": "x"}',
    "rws:loop calls=2 name=f arguments={}",
    "rws:context",
    "rws:text length=30\nrws:incomplete",
    "rws:text length=30 chunks=5\nrws:fail after=5",
    "rws:text length=10\nrws:text length=5\nrws:reasoning summary=3 text=0",
]


def sent_by_a_busy_session() -> list[dict[str, Any]]:
    driver = Driver(limits=Limits(max_named_lanes=1, max_connection_age=60))
    events: list[dict[str, Any]] = []
    for text in DIRECTIVES:
        events += driver.turn(create(text, stream_id="lane"))
    events += driver.turn(create("rws:text length=100", max_output_tokens=3, instructions="x"))
    events += driver.turn(create(generate=False, store=False))
    parent = events[-1]["response"]["id"]
    events += driver.turn(create("more", previous_response_id=parent, store=False))
    # Errors of every scope.
    events += driver.turn("not json")
    events += driver.turn({"type": "nope"})
    driver.send_binary(b"\x00")
    events += driver.turn(create(stream_id="bad id"))
    events += driver.turn(create(stream_id="second-lane"))
    events += driver.turn(create(previous_response_id="resp_unknown", stream_id="lane"))
    events += driver.turn(create(model="other"))
    events += driver.turn(create(stream=False))
    events += driver.turn(create(temperature="warm"))
    events += driver.turn({"type": "response.steer", "previous_response_id": parent, "input": "x"})
    events += driver.turn({"type": "response.steer", "previous_response_id": 5, "input": {}})
    driver.advance(60)
    events += driver.take()
    return events


@pytest.fixture(scope="module")
def sent() -> list[dict[str, Any]]:
    return sent_by_a_busy_session()


def test_server_events_cover_errors_runs_and_steering(sent: list[dict[str, Any]]) -> None:
    """The sample holds runs of every kind, errors and a steering reply."""
    types = {event["type"] for event in sent}
    assert {"error", "response.steer.failed", "response.failed", "response.incomplete"} <= types
    assert "response.function_call_arguments.delta" in types
    assert "response.reasoning_summary_text.delta" in types


def test_every_server_event_validates_against_its_schema(sent: list[dict[str, Any]]) -> None:
    """RWS-EVENT-1: no event of the sample fails its schema."""
    failures = [
        (event["type"], [str(e) for e in schemas.errors(event, direction="server")][:2])
        for event in sent
        if not schemas.is_valid(event, direction="server")
    ]
    assert failures == []
