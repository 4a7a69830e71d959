"""Rule checks of the steering profile's fault switches (see fault_registry.py).

Each drives the sans-I/O session through one steering situation - input accepted while a run
streams, a run that completes with a tool call, a run that fails - and returns whether the
rule its fault breaks held.
"""

from __future__ import annotations

from typing import Any

from reference_impl.faults import Faults
from tests.reference_impl.driver import Driver, create
from tests.reference_impl.fault_registry import check

__all__: list[str] = []

_SLOW = "rws:delay ms=5\nrws:text length=8 chunks=2\nrws:text length=8\nrws:text length=8"


def _steered(
    faults: Faults, prompt: str = _SLOW, *, after: str = "response.created", **fields: Any
) -> tuple[Driver, str]:
    """A session whose first run (``prompt``) is running and has sent an ``after`` event."""
    driver = Driver(faults=faults)
    driver.send(create(prompt, **fields))
    driver.step_until(lambda: any(e["type"] == after for e in driver.events))
    return driver, driver.events[0]["response"]["id"]


def _steer(target: str, steer_input: Any = "also this", **extra: Any) -> dict[str, Any]:
    return {"type": "response.steer", "previous_response_id": target, "input": steer_input, **extra}


@check("steer-double-reply")
def one_reply_per_steer(faults: Faults) -> bool:
    # RWS-STEER-2: exactly one response.steer.accepted or response.steer.failed without id.
    driver, target = _steered(faults)
    driver.send(_steer(target))
    replies = [
        e
        for e in driver.settle()
        if e["type"] == "response.steer.accepted"
        or (e["type"] == "response.steer.failed" and "id" not in e["steer"])
    ]
    return len(replies) == 1


@check("steer-no-stream-id")
def steering_events_carry_the_lane(faults: Faults) -> bool:
    # RWS-STEER-3: steering events carry the target's stream_id, numbered from its counter.
    driver, target = _steered(faults, stream_id="lane-a")
    driver.send(_steer(target))
    events = driver.settle()
    (accepted,) = [e for e in events if e["type"] == "response.steer.accepted"]
    return accepted.get("stream_id") == "lane-a" and accepted["sequence_number"] == 1


def _successor_run(faults: Faults) -> tuple[str, list[dict[str, Any]]]:
    """Two steers for a run on lane a, a request queued there: every event that follows."""
    driver, target = _steered(faults, stream_id="a")
    driver.send(_steer(target, "first"))
    driver.send(_steer(target, "rws:context"))
    driver.send(create("queued", stream_id="a"))
    return target, driver.settle()


@check("successor-wrong-parent", "successor-after-queued")
def successor_continues_first(faults: Faults) -> bool:
    # RWS-STEER-4: the successor continues the target, on its lane, before queued requests.
    target, events = _successor_run(faults)
    created = [
        e for e in events if e["type"] == "response.created" and e["response"]["id"] != target
    ]
    return (
        len(created) == 2
        and created[0]["response"]["previous_response_id"] == target
        and created[0].get("stream_id") == "a"
    )


@check("successor-drops-input")
def successor_commits_all_input(faults: Faults) -> bool:
    # RWS-STEER-4: the successor's context has every accepted input: the target's context
    # (1 item), its output (none: it stopped before its first item), then both inputs.
    _, events = _successor_run(faults)
    texts = [e["text"] for e in events if e["type"] == "response.output_text.done"]
    return any(text.startswith("context items=3 ") for text in texts)


@check("steer-accepts-anything")
def steer_input_checked(faults: Faults) -> bool:
    # RWS-STEER-5: stream_id, unknown fields and non-user items are invalid_input.
    driver, target = _steered(faults)
    bad = (
        _steer(target, stream_id="x"),
        _steer(target, model="other"),
        _steer(target, [{"type": "function_call_output", "call_id": "c", "output": "1"}]),
    )
    for event in bad:
        driver.send(event)
    codes = [
        e.get("error", {}).get("code")
        for e in driver.settle()
        if e["type"].startswith("response.steer.")
    ]
    return codes == ["invalid_input"] * 3


@check("pending-twice")
def pending_once_after_completed(faults: Faults) -> bool:
    # RWS-STEER-6: after response.completed, once per submission.
    driver, target = _steered(
        faults, "rws:delay ms=5\nrws:call name=f arguments={}", after="response.output_item.added"
    )
    driver.send(_steer(target))
    events = driver.settle()
    types = [e["type"] for e in events]
    pending = [i for i, t in enumerate(types) if t == "response.steer.pending"]
    return len(pending) == 1 and pending[0] > types.index("response.completed")


@check("steer-failure-silent")
def failed_target_gives_input_back(faults: Faults) -> bool:
    # RWS-STEER-10: the target fails: successor_creation_failed with the accepted id.
    driver, target = _steered(faults, "rws:delay ms=5\nrws:text length=8\nrws:fail after=2")
    driver.send(_steer(target))
    events = driver.settle()
    (accepted,) = [e for e in events if e["type"] == "response.steer.accepted"]
    given_back = [
        e
        for e in events
        if e["type"] == "response.steer.failed"
        and e["steer"].get("id") == accepted["steer"]["id"]
        and e["error"]["code"] == "successor_creation_failed"
    ]
    return len(given_back) == 1
