"""Error messages never echo unbounded input, and ids no server issues are not looked up.

Issue 18: a 15,000,000-character ``previous_response_id`` was looked up and echoed back in a
15 MB error message. Every error the session builds from client input repeats a bounded part
of it, in its message and in its ``param``.
"""

from __future__ import annotations

import json

from reference_impl.limits import Limits
from reference_impl.validation import MAX_ECHO, MAX_ID_LENGTH
from tests.reference_impl.driver import Driver, create

__all__: list[str] = []

HUGE = 1_000_000
# An error event's fixed part (type, code, status, its own words) and a full-length id fit.
BOUND = 600


def _error(event: object) -> dict[str, object]:
    (reply,) = Driver().turn(event if isinstance(event, str) else json.dumps(event))
    assert reply["type"] == "error", reply
    assert len(json.dumps(reply)) < BOUND, len(json.dumps(reply))
    error = reply["error"]
    assert isinstance(error, dict)
    return error


def test_a_previous_response_id_longer_than_any_id_is_refused_unread() -> None:
    error = _error(create("hi", previous_response_id="r" * HUGE))
    assert error["code"] == "invalid_value"
    assert error["param"] == "previous_response_id"


def test_an_id_of_the_longest_length_is_looked_up() -> None:
    error = _error(create("hi", previous_response_id="r" * MAX_ID_LENGTH))
    assert error["code"] == "previous_response_not_found"


def test_an_unknown_model_of_any_length_is_named_briefly() -> None:
    error = _error(create("hi", model="m" * HUGE))
    assert error["code"] == "model_not_found"


def test_a_field_name_of_any_length_is_named_briefly() -> None:
    error = _error({**create("hi"), "k" * HUGE: [[[[]]]], "temperature": "hot"})
    assert error["code"] in ("invalid_type", "invalid_value")
    assert len(str(error["param"])) <= MAX_ECHO


def test_a_deep_path_of_long_keys_is_named_briefly() -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "x" * HUGE: 1}]}
    error = _error(create([item], text={"format": {"type": "x" * HUGE}}))
    assert len(str(error["param"])) <= MAX_ECHO


def test_requests_beyond_the_queue_bound_are_refused_at_once() -> None:
    """RWS-LANE-11: max-queued-requests wait; the next gets rate_limit_exceeded at once, and
    the ones that waited are all served in their turn."""
    limits = Limits(max_queued_requests=3)
    driver = Driver(limits=limits)
    driver.send(create("rws:delay ms=5\nrws:text length=8 chunks=4"))  # runs: queues nothing
    driver.step_until(lambda: any(e["type"] == "response.created" for e in driver.events))
    for n in range(5):
        driver.send(create(f"queued {n}"))
    refused = [e for e in driver.events if e["type"] == "error"]
    assert [e["error"]["code"] for e in refused] == ["rate_limit_exceeded"] * 2
    assert all(e["status"] == 429 for e in refused)
    events = driver.settle()
    assert sum(1 for e in events if e["type"] == "response.completed") == 4
