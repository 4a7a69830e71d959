"""Peer script: the connection-age limit seen through the ``openai`` SDK's lane helper.

Same server as ``sdk_connection_age`` (``max-connection-age`` about one second). A long
``store: false`` run goes out on the default lane of a ``ResponsesWebSocketSession``; after the
limit has surely passed, a second request goes out on the named lane ``late``. The server answers
that request with ``websocket_connection_limit_reached``, which carries no ``stream_id``
(RWS-LIMIT-1, as in the deployed protocol), lets the default lane's run finish (RWS-LIMIT-2) and
closes with 1001.

The script records what each lane then sees: whether ``get_final_response()`` of the default lane
returns the run that did complete, where the error went, and what the ``late`` lane gets.
"""

from __future__ import annotations

from typing import Any

from openai.lib.responses_websocket import (  # type: ignore[import-not-found]
    ResponsesWebSocketError,
    ResponsesWebSocketLimits,
    ResponsesWebSocketSession,
)

from tests.peers.scripts._common import client, dump, env, tap_wire
from tests.peers.scripts.sdk_connection_age import LATE_AFTER_DELTAS, LATE_INPUT, LONG_INPUT

__all__ = ["main"]

_LIMITS = ResponsesWebSocketLimits(
    max_lanes=4,
    max_events_per_lane=256,
    max_events=512,
    max_bytes_per_lane=4 * 1024 * 1024,
    max_bytes=8 * 1024 * 1024,
)
_TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


def _drain(lane: Any) -> list[str]:
    """Every event type the lane still delivers until the session ends."""
    types: list[str] = []
    while True:
        try:
            event = lane.recv(timeout=10)
        except (EOFError, TimeoutError, RuntimeError) as exc:
            types.append(f"<{type(exc).__name__}>")
            return types
        types.append(event.type)


def main() -> None:
    """Run the scenario and print what each lane saw."""
    e = env()
    wire = tap_wire()
    report: dict[str, Any] = {}
    with (
        client(e).responses.connect() as connection,
        ResponsesWebSocketSession(connection, limits=_LIMITS) as session,
    ):
        default = session.default
        late = session.lane("late")
        default.send(
            {"type": "response.create", "model": e.model, "store": False, "input": LONG_INPUT}
        )
        seen: list[str] = []
        deltas = 0
        while deltas < LATE_AFTER_DELTAS:
            event = default.recv(timeout=10)
            seen.append(event.type)
            deltas += event.type == "response.output_text.delta"
        late.send(
            {"type": "response.create", "model": e.model, "store": False, "input": LATE_INPUT}
        )
        try:
            final = default.get_final_response(timeout=10)
            report["default_final"] = {"status": final.status, "output_text": final.output_text}
        except ResponsesWebSocketError as exc:
            report["default_final"] = {
                "raised": type(exc).__name__,
                "event_type": exc.event.type,
                "code": exc.event.error.code,
                "stream_id": getattr(exc.event, "stream_id", None),
            }
        report["default_before_late"] = seen
        report["default_after"] = _drain(default)
        report["late"] = _drain(late)
    report["wire"] = wire
    report["terminal_types"] = [
        r["event"]["type"]
        for r in wire
        if "event" in r and r["event"].get("type") in _TERMINAL | {"error"}
    ]
    dump(report)


if __name__ == "__main__":
    main()
