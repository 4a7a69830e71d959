"""RWS-LIMIT-6: a message of directive lines costs the server a bounded amount of work.

A.5 limits one run to 1,000,000 characters of text and 100,000 deltas. Every item directive
counts toward them - ``rws:context`` too, whose text is about 100 characters - and an empty
text counts as one delta, so no message, however many lines it holds, makes the model plan
or emit more than the limits allow. These tests send the largest message a client may send
(``max-message-size``, 16 MiB) and check the outcome; the CPU time is printed, not asserted,
because the machine that runs the tests may be loaded.
"""

from __future__ import annotations

import json
import time

import pytest

from reference_impl import model
from reference_impl.limits import DEFAULT_LIMITS
from tests.reference_impl.driver import TERMINAL_TYPES, Driver, create, terminal

__all__: list[str] = []


def _largest_message(line: str) -> str:
    """A ``response.create`` of ``line`` repeated, as large as max-message-size allows."""
    envelope = json.dumps(create(""), separators=(",", ":"))
    room = DEFAULT_LIMITS.max_message_size - len(envelope.encode()) - 64
    # "\n" is escaped in JSON as two bytes.
    count = room // (len(line.encode()) + 2)
    return json.dumps(create("\n".join([line] * count)), separators=(",", ":"))


def _outcome(message: str) -> tuple[list[dict[str, object]], float]:
    driver = Driver()
    start = time.process_time()
    events = driver.turn(message)
    return events, time.process_time() - start


@pytest.mark.parametrize(
    "line", ["rws:context", "rws:text", "rws:refusal", "rws:reasoning", "rws:call name=f"]
)
def test_a_16_mib_message_of_directive_lines_is_refused_or_answered(line: str) -> None:
    """Each line asks for an item; a maximal message asks for more than a run may hold and
    gets invalid_value (param input), or a complete run, in bounded time."""
    message = _largest_message(line)
    assert len(message.encode()) <= DEFAULT_LIMITS.max_message_size
    events, cpu = _outcome(message)
    print(f"{line!r} x {message.count('rws:')}: {cpu:.2f} s CPU, {len(events)} events")
    if len(events) == 1:
        (error,) = events
        assert error["type"] == "error"
        assert error["error"] == {
            **error["error"],  # type: ignore[dict-item]
            "code": "invalid_value",
            "param": "input",
        }
    else:
        assert terminal(events)["type"] in TERMINAL_TYPES


def test_context_lines_count_toward_the_output_limit() -> None:
    """A.5: rws:context lines count their text; past 1,000,000 characters the run is refused
    before anything is sent, and the connection goes on."""
    text_length = len(f"context items=1 digest={'0' * 64}")
    lines = model.MAX_RUN_CHARACTERS // text_length + 1
    driver = Driver()
    (error,) = driver.turn(create("\n".join(["rws:context"] * lines)))
    assert error["type"] == "error"
    assert error["error"]["code"] == "invalid_value"
    events = driver.turn(create("\n".join(["rws:context"] * 3)))
    done = [e for e in events if e["type"] == "response.output_text.done"]
    # One digest for the run, the same in each of its messages.
    assert len({d["text"] for d in done}) == 1
    assert len(done) == 3
