"""The words failure messages use for what came back (conformance.wording, Outcome.describe,
the scenarios' describe(), the wire's close descriptions).

A stranger reads these: an error event is named with its code, type and status exactly as
received (a missing field is named as missing, never printed as None), a run with its
response id, lane and ending, and an outcome that came on the wrong lane as such.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.harness.lanes import Outcome, missing_outcome, outcomes, strays
from conformance.harness.wire import ConnectionClosedError
from conformance.scenarios._common import describe
from conformance.wording import (
    error_event,
    event_text,
    lane_name,
    not_exercised,
    server_sent,
    unnamed_error,
)

__all__: list[str] = []


def _error(**fields: Any) -> dict[str, Any]:
    return {"type": "error", **fields}


def _run(
    rid: str, lane: str | None = None, terminal: str | None = "response.completed"
) -> list[Any]:
    extra = {"stream_id": lane} if lane else {}
    events: list[Any] = [
        {"type": "response.created", "response": {"id": rid}, "sequence_number": 0, **extra},
        {"type": "response.output_text.delta", "delta": "x", "sequence_number": 1, **extra},
    ]
    if terminal is not None:
        response: dict[str, Any] = {"id": rid}
        if terminal == "response.failed":
            response["error"] = {"code": "server_error", "message": "boom"}
        events.append({"type": terminal, "response": response, "sequence_number": 2, **extra})
    return events


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            _error(status=400, error={"type": "invalid_request_error", "code": "invalid_type"}),
            "an `error` event with code `invalid_type`, type `invalid_request_error` and "
            "status 400",
        ),
        (
            _error(error={"type": "invalid_request_error", "code": "previous_response_not_found"}),
            "an `error` event with code `previous_response_not_found` and type "
            "`invalid_request_error`, without `status`",
        ),
        (
            _error(status=400, error={"type": "invalid_request_error", "message": "m"}),
            "an `error` event with type `invalid_request_error` and status 400, without "
            "`error.code`",
        ),
        (
            _error(error={"message": "m"}),
            "an `error` event without `error.code`, `error.type` and `status`",
        ),
        (
            _error(code="invalid_stream_id", message="m", param="stream_id"),
            "an `error` event with no `error` object (flat shape), code `invalid_stream_id`, "
            "without `status`",
        ),
        (
            _error(status=500, error={"code": None, "type": "server_error"}, stream_id="b"),
            "an `error` event with `error.code` null, type `server_error` and status 500, "
            "on lane `b`",
        ),
    ],
)
def test_an_error_event_is_named_by_its_fields_as_received(
    event: dict[str, Any], expected: str
) -> None:
    assert error_event(event) == expected
    assert "None" not in error_event(event)


def test_an_error_without_a_string_code_is_named_by_what_it_has() -> None:
    assert unnamed_error(_error(code="x")) == "(no `error` object, flat shape: top-level code `x`)"
    assert unnamed_error(_error(error={"type": "t"})) == "(without `error.code`)"
    assert unnamed_error(_error(error={"code": 7})) == "(`error.code` 7, not a string)"


def test_other_messages_are_named_by_their_event_type() -> None:
    created = {"type": "response.created", "response": {"id": "resp_1"}, "stream_id": "a"}
    assert event_text(created) == "a `response.created` event of response `resp_1` on lane `a`"
    assert event_text(None, "not json") == "a text message that is not a JSON object: `not json`"
    assert event_text(None) == "a binary message"
    assert lane_name(None) == "the default lane"
    assert lane_name("a") == "lane `a`"


def test_describe_names_the_error_outcome_with_its_fields() -> None:
    outcome = Outcome("error", (_error(error={"code": "invalid_type"}),), True)
    assert describe(outcome) == (
        "an `error` event with code `invalid_type`, without `error.type` and `status`"
    )


def test_describe_names_a_run_by_id_lane_and_ending() -> None:
    done = outcomes(_run("resp_1"), None)[0]
    assert describe(done) == "a run of response `resp_1` that ended with `response.completed`"
    failed = outcomes(_run("resp_2", lane="a", terminal="response.failed"), "a")[0]
    assert describe(failed) == (
        "a run of response `resp_2` on lane `a` that ended with `response.failed` "
        "(`response.error` code `server_error`)"
    )
    open_run = outcomes(_run("resp_3", terminal=None), None)[0]
    assert describe(open_run) == (
        "a run of response `resp_3` that has sent no terminal event "
        "(last: `response.output_text.delta`)"
    )


def test_a_run_on_another_lane_is_named_as_such() -> None:
    # A request on lane a, answered by a run without stream_id (on the default lane).
    events = _run("resp_1")
    assert [o.response_id for o in strays(events, {"a": 1})] == ["resp_1"]
    assert missing_outcome(events, "a", 0, {"a": 1}) == (
        "nothing arrived on lane `a` for it (neither `response.created` nor a request-scoped "
        "`error` event); a run of response `resp_1` that ended with `response.completed` "
        "arrived on the default lane instead (its events carry no `stream_id`)"
    )
    # A default-lane request answered on a lane the server named itself.
    named = _run("resp_2", lane="default")
    assert missing_outcome(named, None, 0, {None: 1}).endswith(
        "arrived on lane `default` instead (its events carry `stream_id` `default`)"
    )


def test_an_answered_request_on_its_own_lane_is_no_stray() -> None:
    events = [*_run("resp_1"), *_run("resp_2", lane="a")]
    assert strays(events, {None: 1, "a": 1}) == []
    assert missing_outcome(events, "b", 0, {None: 1, "a": 1, "b": 1}) == (
        "nothing arrived on lane `b` for it (neither `response.created` nor a request-scoped "
        "`error` event)"
    )


def test_a_started_run_without_terminal_is_described() -> None:
    events = _run("resp_1", terminal=None)
    assert missing_outcome(events, None, 0, {None: 1}).startswith(
        "a run of response `resp_1` that has sent no terminal event"
    )


def test_not_exercised_says_what_the_server_sent_instead() -> None:
    records: list[dict[str, Any]] = [
        {"kind": "text", "dir": "c2s", "text": '{"type": "response.create"}'},
        {"kind": "text", "dir": "s2c", "text": '{"type": "error", "code": "invalid_type"}'},
        {"kind": "text", "dir": "s2c", "text": '{"type": "error", "code": "invalid_type"}'},
        {"kind": "close", "dir": "s2c", "code": 1008},
    ]
    assert not_exercised(records) == (
        "not exercised: the server sent nothing in this check that this requirement applies "
        "to (all it sent: 2 `error` events with no `error` object (flat shape), code "
        "`invalid_type`, without `status`)"
    )
    assert server_sent([]) == "no event"
    assert server_sent([{"type": "response.created"}, {"type": "x-acme.trace"}]) == (
        "1 run (`response.created`) and 1 `x-acme.trace` event"
    )


def test_a_closed_connection_error_carries_its_description() -> None:
    detail = "the server closed the connection with code 1008, right after an `error` event"
    assert str(ConnectionClosedError("sending a `response.create` event", 1008, detail)) == (
        f"sending a `response.create` event: {detail}"
    )
    assert str(ConnectionClosedError("waiting", None)) == (
        "waiting: the connection closed without a close code"
    )
