"""Sequence numbers of steering replies (RWS-SEQ-5, RWS-STEER-3; spec 4.4 and D14).

A steering reply takes the next number of its target's counter while the target runs. A reply
for a target that is not running carries 0 and belongs to no run. A server may consider the
target ended (its terminal event committed) before the terminal event is on the wire, so a
reply numbered 0 just before the target's terminal event is the not-running form; a reply
numbered 0 after which the target goes on is inside the run, and breaks its order.
"""

from __future__ import annotations

from typing import Any

from tests.checker.synth import Transcript, assert_clean, assert_only, check, run_events

__all__: list[str] = []

RID = "resp_target"
STEER = {"type": "response.steer", "previous_response_id": RID, "input": "and the weather"}


def reply(sequence_number: int) -> dict[str, Any]:
    return {
        "type": "response.steer.failed",
        "sequence_number": sequence_number,
        "steer": {"previous_response_id": RID, "input": "and the weather"},
        "error": {
            "type": "invalid_request_error",
            "code": "steering_not_supported",
            "message": "This server does not support steering.",
        },
    }


def renumbered(events: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    """The events numbered from ``start`` (after a reply that took a number of the run)."""
    return [{**event, "sequence_number": start + i} for i, event in enumerate(events)]


def test_reply_numbered_from_the_running_target_passes() -> None:
    """While the target runs, the reply takes its next number; the run goes on after it."""
    events = run_events(rid=RID)
    t = Transcript().open().create().recv(*events[:3]).send(STEER).recv(reply(3))
    t.recv(*renumbered(events[3:], 4))
    assert_clean(check(t), "RWS-STEER-1", "RWS-SEQ-5")


def test_reply_zero_just_before_the_targets_terminal_event_is_outside_the_run() -> None:
    """The server had ended the target (terminal committed, not yet sent): no run's number."""
    events = run_events(rid=RID)
    t = Transcript().open().create().recv(*events[:-1]).send(STEER).recv(reply(0))
    t.recv(events[-1])
    assert_clean(check(t), "RWS-STEER-1", "RWS-SEQ-5")


def test_reply_zero_while_the_target_goes_on_breaks_seq_5() -> None:
    """More events of the target follow the reply: it was sent while the target ran."""
    events = run_events(rid=RID)
    t = Transcript().open().create().recv(*events[:3]).send(STEER).recv(reply(0))
    report = check(t.recv(*events[3:]))
    assert_only(report, "RWS-SEQ-5")
    assert report.findings[0].records == (2, 6, 7)


def test_reply_after_the_targets_terminal_event_is_outside_the_run() -> None:
    """The target has ended: the reply is numbered 0 and belongs to no run."""
    t = Transcript().open().create().recv(*run_events(rid=RID)).send(STEER).recv(reply(0))
    assert_clean(check(t), "RWS-STEER-1")
