"""Peer script: two ``response.create`` sent back to back on the default lane.

The plain ``openai`` SDK connection lets an application send the next request before the
previous run has ended. The reference server declares ``busy-lane=queue`` (its default), so it
must queue the second request and start it only after the first run's terminal event
(RWS-LANE-1, RWS-LANE-2). The second request has no ``previous_response_id``, so it starts a new
conversation (RWS-LANE-8) and its ``rws:context`` shows a context of its own input only.
"""

from __future__ import annotations

from typing import Any

from tests.peers.scripts._common import client, dump, env, tap_wire

__all__ = ["FIRST_INPUT", "SECOND_INPUT", "main"]

FIRST_INPUT = "first\nrws:text length=30 chunks=10\nrws:delay ms=3"
SECOND_INPUT = "second\nrws:context"
_TERMINAL = {"response.completed", "response.incomplete", "response.failed", "error"}


def main() -> None:
    """Send both requests at once, read both runs, and print what was seen."""
    e = env()
    wire = tap_wire()
    events: list[dict[str, Any]] = []
    with client(e).responses.connect() as connection:
        connection.response.create(model=e.model, store=False, input=FIRST_INPUT)
        connection.response.create(model=e.model, store=False, input=SECOND_INPUT)
        terminals = 0
        for event in connection:
            events.append(event.to_dict())
            if event.type in _TERMINAL:
                terminals += 1
                if terminals == 2:
                    break
    dump({"inputs": [FIRST_INPUT, SECOND_INPUT], "events": events, "wire": wire})


if __name__ == "__main__":
    main()
