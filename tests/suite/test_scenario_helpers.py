"""The helpers of the checks written for issue 13, section 2 (limits, lanes, large events)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, cast

from conformance.cli import build_parser
from conformance.commands.check import build_config
from conformance.harness.config import SuiteConfig
from conformance.harness.wire import Connection, Message
from conformance.scenarios.lanes import _first_overlap
from conformance.scenarios.limits import (
    _SLOW_TEXT_EVENTS,
    _idle_limit,
    _run_lasting,
    _short_idle,
)
from conformance.scenarios.stream import _not_one_object
from tests.reference_impl.driver import Driver, create


def _messages(*events: Mapping[str, Any]) -> Connection:
    """A stand-in connection that received ``events`` (the helpers read only its messages)."""
    messages = [
        Message(index=i, ts=0.0, kind="text", text=json.dumps(e), event=e)
        for i, e in enumerate(events)
    ]
    return cast(Connection, SimpleNamespace(messages=messages))


def _created(response_id: str, lane: str | None = "a") -> dict[str, Any]:
    event: dict[str, Any] = {"type": "response.created", "response": {"id": response_id}}
    if lane is not None:
        event["stream_id"] = lane
    return event


def _completed(response_id: str, lane: str | None = "a") -> dict[str, Any]:
    return {**_created(response_id, lane), "type": "response.completed"}


def test_idle_limit_prefers_the_test_instance_then_a_short_declared_timeout() -> None:
    base = "ws://main:1"
    instance = SuiteConfig(
        server_url=base, test_idle_timeout=1.5, idle_limit_url="ws://idle:2", parameters={}
    )
    assert _idle_limit(instance) == (1.5, "ws://idle:2/v1/responses")
    same_server = SuiteConfig(server_url=base, test_idle_timeout=2.0)
    assert _idle_limit(same_server) == (2.0, "ws://main:1/v1/responses")
    declared = SuiteConfig(server_url=base, parameters={"idle-timeout": "20"})
    assert _idle_limit(declared) == (20.0, "ws://main:1/v1/responses")
    for value in ("300", "none", "soon"):
        assert _idle_limit(SuiteConfig(server_url=base, parameters={"idle-timeout": value})) is None
    assert _idle_limit(SuiteConfig(server_url=base)) is None


def test_idle_checks_say_how_to_enable_them_when_skipped() -> None:
    reason = _short_idle(SuiteConfig(server_url="ws://main:1"))
    assert reason is not None
    assert "--test-idle-timeout" in reason
    assert "--server-param idle-timeout" in reason
    assert _short_idle(SuiteConfig(server_url="ws://main:1", test_idle_timeout=1.0)) is None


def test_check_command_passes_the_idle_instance_to_the_suite() -> None:
    args = build_parser().parse_args(
        [
            "check",
            "--server-url",
            "ws://main:1",
            "--test-idle-timeout",
            "1.5",
            "--idle-limit-url",
            "ws://idle:2",
        ]
    )
    config = build_config(args, "conformance-1")
    assert (config.test_idle_timeout, config.idle_limit_url) == (1.5, "ws://idle:2")
    assert config.describe()["test_idle_timeout_s"] == 1.5


def test_a_run_asked_to_last_some_seconds_waits_that_long_in_the_conformance_model() -> None:
    driver = Driver()
    events = driver.turn(create(_run_lasting(2.0)))
    assert len(events) == _SLOW_TEXT_EVENTS
    assert events[-1]["type"] == "response.completed"
    (waits,) = driver.waits.values()
    assert 2.0 <= sum(waits) < 2.0 + _SLOW_TEXT_EVENTS * 0.001


def test_runs_of_a_lane_one_after_another_do_not_overlap() -> None:
    conn = _messages(
        _created("r1"),
        _created("x", lane="b"),  # another lane may run meanwhile
        _completed("r1"),
        {"type": "error", "stream_id": "a", "error": {"code": "response_already_in_flight"}},
        _created("r2"),
        _completed("r2"),
    )
    assert _first_overlap(conn, "a") is None


def test_a_run_started_before_the_previous_one_ended_is_named() -> None:
    conn = _messages(_created("r1"), _created("r2"), _completed("r2"), _completed("r1"))
    found = _first_overlap(conn, "a")
    assert found is not None
    assert "run r2 sent response.created (message 1) while run r1" in found
    default = _messages(_created("d1", None), _created("d2", None))
    assert _first_overlap(default, None) is not None
    assert _first_overlap(default, "a") is None


def test_messages_that_are_not_one_json_object_are_described() -> None:
    whole = Message(index=0, ts=0.0, kind="text", text="{}", event={})
    half = Message(index=3, ts=0.0, kind="text", text='{"type":"response.output_text.delta"')
    binary = Message(index=4, ts=0.0, kind="binary", data=b"\x00" * 70000)
    close = Message(index=5, ts=0.0, kind="close", close_code=1000)
    assert _not_one_object(whole) is None
    assert _not_one_object(close) is None
    described = _not_one_object(half)
    assert described is not None
    assert described.startswith("message 3 is 36 characters of text that are not one JSON")
    assert _not_one_object(binary) == "message 4 is a binary message of 70000 bytes"
