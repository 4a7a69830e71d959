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
    assert {e["error"]["message"] for e in refused} == {
        "Too many requests are waiting on this connection (max-queued-requests 3)."
    }
    events = driver.settle()
    assert sum(1 for e in events if e["type"] == "response.completed") == 4


# --- RWS-LANE-11: the byte budget of the waiting requests (max-queued-bytes) ------------------

LONG_RUN = "rws:delay ms=5\nrws:text length=8 chunks=4"  # runs while the others wait


def _padded(n: int, pad: int = 1000) -> dict[str, object]:
    """A request whose ``metadata`` names it, with ``pad`` characters of input."""
    return create("p" * pad, metadata={"n": str(n)})


def _size(event: dict[str, object]) -> int:
    return len(json.dumps(event).encode())


def _busy(limits: Limits) -> Driver:
    """A driver whose default lane runs the long run (it has sent its response.created)."""
    driver = Driver(limits=limits)
    driver.send(create(LONG_RUN))
    driver.step_until(lambda: any(e["type"] == "response.created" for e in driver.events))
    driver.take()
    return driver


def _started(events: list[dict[str, object]]) -> list[str]:
    """The ``n`` of every run started, in order (the long run has none)."""
    out = []
    for event in events:
        if event["type"] == "response.created":
            response = event["response"]
            assert isinstance(response, dict)
            if response["metadata"]:
                out.append(response["metadata"]["n"])
    return out


def _refusals(events: list[dict[str, object]]) -> list[str]:
    """The messages of the rate_limit_exceeded errors among ``events``."""
    out = []
    for event in events:
        if event["type"] == "error":
            error = event["error"]
            assert isinstance(error, dict)
            assert (error["code"], event["status"]) == ("rate_limit_exceeded", 429), event
            out.append(str(error["message"]))
    return out


def test_requests_beyond_the_byte_budget_are_refused_at_once() -> None:
    """RWS-LANE-11: the request that would take the waiting requests past max-queued-bytes is
    refused at once with rate_limit_exceeded naming that bound; a smaller one after it still
    fits, and those that waited run in their order."""
    size = _size(_padded(0))
    budget = 2 * size + size // 2
    driver = _busy(Limits(max_queued_bytes=budget))
    driver.send(_padded(0))
    driver.send(_padded(1))
    assert driver.events == []  # both wait
    driver.send(_padded(2))  # 3 x size > budget
    (message,) = _refusals(driver.take())
    assert message == (
        f"The requests waiting on this connection would exceed their total size "
        f"(max-queued-bytes {budget})."
    )
    driver.send(_padded(3, pad=size // 4))  # fits the half size left
    assert driver.events == []
    events = driver.settle()
    assert _refusals(events) == []
    assert _started(events) == ["0", "1", "3"]
    assert sum(1 for e in events if e["type"] == "response.completed") == 4


def test_bytes_are_released_when_a_waiting_request_starts() -> None:
    """RWS-LANE-11: a request leaves the budget when it starts: once the first waiting request
    runs, a request refused before for its size is accepted."""
    size = _size(_padded(0))
    driver = _busy(Limits(max_queued_bytes=2 * size))
    driver.send(_padded(0))
    driver.send(_padded(1))
    driver.send(_padded(2))
    assert len(_refusals(driver.take())) == 1
    driver.step_until(lambda: _started(driver.events) == ["0"])  # "1" waits behind it
    driver.send(_padded(3))
    events = driver.take() + driver.settle()
    assert _refusals(events) == []
    assert _started(events) == ["0", "1", "3"]


def test_a_request_that_starts_at_once_is_never_refused_for_its_size() -> None:
    """RWS-LANE-11 bounds the requests that wait: one for an idle lane with a free slot starts,
    however large, alone or while the budget is spent on another lane."""
    size = _size(_padded(0))
    driver = Driver(limits=Limits(max_queued_bytes=size // 10))
    events = driver.turn(_padded(0))
    assert _refusals(events) == []
    assert _started(events) == ["0"]
    driver = _busy(Limits(max_queued_bytes=size + 1))
    driver.send(_padded(1))  # waits on the default lane: the budget is spent
    driver.send({**_padded(2), "stream_id": "idle"})  # starts at once on its own lane
    assert _started(driver.take()) == ["2"]
    events = driver.settle()
    assert _refusals(events) == []
    assert _started(events) == ["1"]


def test_a_request_waiting_for_a_slot_counts() -> None:
    """RWS-LANE-11: a request for an idle lane waits when max-active-responses runs are in
    flight, so it counts against the budget and may be refused."""
    size = _size(_padded(0))
    driver = _busy(Limits(max_active_responses=1, max_queued_bytes=size + size // 2))
    driver.send({**_padded(0), "stream_id": "b"})
    driver.send({**_padded(1), "stream_id": "c"})
    assert len(_refusals(driver.take())) == 1
    assert _started(driver.settle()) == ["0"]


def test_a_request_for_an_idle_lane_is_not_refused_for_the_count() -> None:
    """RWS-LANE-11: max-queued-requests bounds the requests that wait; one for an idle lane
    with a free slot starts although the bound is reached on another lane."""
    driver = _busy(Limits(max_queued_requests=1))
    driver.send(_padded(0))  # waits: the bound is reached
    driver.send({**_padded(1), "stream_id": "idle"})
    assert _started(driver.take()) == ["1"]
    driver.send(_padded(2))
    assert _refusals(driver.take()) == [
        "Too many requests are waiting on this connection (max-queued-requests 1)."
    ]
    assert _started(driver.settle()) == ["0"]


def test_a_message_counts_by_its_utf8_bytes() -> None:
    """RWS-LANE-11: sizes are in bytes: a text of fewer characters than the budget whose UTF-8
    bytes exceed it is refused while it would wait."""
    text = json.dumps(create("\u00e9" * 600), ensure_ascii=False)
    assert len(text) < 1000 < len(text.encode())
    driver = _busy(Limits(max_queued_bytes=1000))
    driver.send(text)
    assert len(_refusals(driver.take())) == 1
    driver.send(text.replace("\u00e9", "e"))  # the same request in ASCII fits
    assert driver.take() == []
