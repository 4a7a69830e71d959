"""Grouping received events into request outcomes per lane (conformance.harness.lanes)."""

from __future__ import annotations

from typing import Any

from conformance.harness.lanes import outcomes


def _run(rid: str, lane: str | None = None, terminal: str = "response.completed") -> list[Any]:
    extra = {"stream_id": lane} if lane else {}
    return [
        {"type": "response.created", "response": {"id": rid}, "sequence_number": 0, **extra},
        {"type": "response.in_progress", "response": {"id": rid}, "sequence_number": 1, **extra},
        {"type": terminal, "response": {"id": rid, "status": "x"}, "sequence_number": 2, **extra},
    ]


def _error(code: str, lane: str | None = None) -> dict[str, Any]:
    extra = {"stream_id": lane} if lane else {}
    return {"type": "error", "status": 400, "error": {"code": code}, **extra}


def test_runs_and_request_errors_are_outcomes_in_order() -> None:
    events = [
        *_run("r1"),
        _error("previous_response_not_found"),
        *_run("r2", terminal="response.failed"),
    ]
    found = outcomes(events, None)
    assert [(o.kind, o.status, o.response_id or o.code) for o in found] == [
        ("run", "completed", "r1"),
        ("error", "error", "previous_response_not_found"),
        ("run", "failed", "r2"),
    ]


def test_frame_errors_and_other_lanes_are_not_outcomes_of_the_default_lane() -> None:
    events = [
        _error("invalid_json"),
        _error("unsupported_frame_type"),
        _error("invalid_stream_id"),
        *_run("ra", lane="a"),
        _error("invalid_type", lane="a"),
    ]
    assert outcomes(events, None) == []
    lane_a = outcomes(events, "a")
    assert [(o.kind, o.response_id or o.code) for o in lane_a] == [
        ("run", "ra"),
        ("error", "invalid_type"),
    ]


def test_an_unfinished_run_is_the_last_incomplete_outcome() -> None:
    events = _run("r1")[:2]
    found = outcomes(events, None)
    assert len(found) == 1
    assert not found[0].complete
    assert found[0].terminal is None


def test_an_error_inside_a_run_belongs_to_the_run() -> None:
    run = _run("r1", terminal="response.failed")
    events = [run[0], run[1], {**_error("server_error"), "sequence_number": 2}, run[2]]
    found = outcomes(events, None)
    assert [(o.kind, len(o.events)) for o in found] == [("run", 4)]


def test_a_refusal_during_a_run_is_the_outcome_of_the_next_request() -> None:
    run = _run("r1")
    events = [run[0], _error("response_already_in_flight"), run[1], run[2]]
    found = outcomes(events, None)
    assert [(o.kind, o.response_id or o.code) for o in found] == [
        ("run", "r1"),
        ("error", "response_already_in_flight"),
    ]
    assert len(found[0].events) == 3
