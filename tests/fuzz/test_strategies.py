"""The valid-event strategies produce events that validate against ``schemas/``."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.fuzz.strategies import (
    EVENT_STRATEGIES,
    from_schema,
    input_items,
    lane_names,
    response_create,
    response_steer,
)
from conformance.schemas import SCHEMA_BASE_URI, default_schema_set

__all__: list[str] = []

SCHEMAS = default_schema_set()
MANY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_there_is_one_named_strategy_per_client_event_type() -> None:
    assert set(EVENT_STRATEGIES) == set(SCHEMAS.client_event_types())


@MANY
@given(response_create())
def test_response_create_strategy_produces_schema_valid_events(event: dict[str, Any]) -> None:
    assert event["type"] == "response.create"
    assert SCHEMAS.errors(event) == []
    # The wire form is plain JSON (no NaN, no lone surrogates from the valid strategies).
    json.dumps(event, allow_nan=False).encode("utf-8")


@MANY
@given(response_create(lanes=False))
def test_response_create_without_lanes_never_names_a_lane(event: dict[str, Any]) -> None:
    assert event.get("stream_id") is None
    assert SCHEMAS.is_valid(event)


@MANY
@given(response_steer())
def test_response_steer_strategy_produces_schema_valid_events(event: dict[str, Any]) -> None:
    assert event["type"] == "response.steer"
    assert SCHEMAS.errors(event) == []


@MANY
@given(st.sampled_from(sorted(EVENT_STRATEGIES)).flatmap(lambda t: EVENT_STRATEGIES[t]()))
def test_every_named_strategy_validates_as_its_own_type(event: dict[str, Any]) -> None:
    assert SCHEMAS.is_valid(event, direction="client")


@MANY
@given(input_items())
def test_input_items_validate_as_items_of_a_create(item: dict[str, Any]) -> None:
    assert SCHEMAS.is_valid({"type": "response.create", "input": [item]})


@MANY
@given(lane_names(max_size=256))
def test_lane_names_are_valid_stream_ids(name: str) -> None:
    assert SCHEMAS.is_valid({"type": "response.create", "stream_id": name})


@MANY
@given(st.data())
def test_from_schema_generates_valid_values_for_every_create_property(data: st.DataObject) -> None:
    """The schema-derived part of the create strategy, property by property."""
    properties = SCHEMAS.schema_for("response.create")["properties"]
    name = data.draw(st.sampled_from(sorted(set(properties) - {"response", "stream_id"})))
    resolver = SCHEMAS.registry().resolver(
        base_uri=SCHEMA_BASE_URI + "events/client/response.create.json"
    )
    value = data.draw(from_schema(properties[name], resolver))
    event = {"type": "response.create", name: value}
    # input items are if/then unions that from_schema does not target (hand-written instead)
    if name != "input":
        assert SCHEMAS.errors(event) == [], (name, value)


def test_create_strategy_covers_runs_and_directives() -> None:
    """Most generated requests are plain requests for the model, many with directives."""
    seen: list[dict[str, Any]] = []

    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(response_create())
    def collect(event: dict[str, Any]) -> None:
        seen.append(event)

    collect()
    runnable = [e for e in seen if e.get("model") == "conformance-1" and "input" in e]
    with_directive = [e for e in runnable if "rws:" in json.dumps(e["input"])]
    assert len(runnable) > len(seen) / 2
    assert with_directive
