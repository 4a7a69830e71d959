"""Peer script: continuation across a reconnect with the ``openai`` SDK.

``stored``: turn 1 with ``store: true`` on one connection, close it, then turn 2 with its
``previous_response_id`` on a new connection - the server must hydrate it (RWS-CACHE-3).

``unstored``: the same with ``store: false`` - the new connection has no cached entry and
nothing is stored, so the server answers ``previous_response_not_found`` (RWS-CACHE-4,
RWS-CACHE-8) as an ``error`` event the SDK surfaces. The client then does what RWS-CLIENT-2
asks - resends the full context without ``previous_response_id`` on the same connection - which
also shows the connection stayed usable after the error.

Usage: ``sdk_store_reconnect.py [stored|unstored]`` (both halves when no argument is given).
"""

from __future__ import annotations

import sys
from typing import Any

from tests.peers.scripts._common import client, dump, env, output_text, run_turn, tap_wire

__all__ = ["main"]


def _turn_report(raw: Any, typed: list[Any]) -> dict[str, Any]:
    items = raw.items_done()
    last = typed[-1]
    report: dict[str, Any] = {
        "types": raw.types(),
        "items": items,
        "text": output_text(items),
        "terminal": raw.terminal(),
        "sdk_class": type(last).__name__,
    }
    error = getattr(last, "error", None)
    if last.type == "error" and error is not None:
        report["sdk_error_code"] = error.code
        report["sdk_error_param"] = error.param
    response = getattr(last, "response", None)
    if response is not None:
        report["sdk_id"] = response.id
    return report


def main() -> None:
    """Run both halves and print what was seen."""
    e = env()
    wire = tap_wire()
    sdk = client(e)
    report: dict[str, Any] = {}
    halves = {"stored": True, "unstored": False}
    wanted = sys.argv[1:] or list(halves)
    for name, store in halves.items():
        if name not in wanted:
            continue
        first_input = f"{name} turn one\nrws:context"
        second_input = f"{name} turn two\nrws:context"
        with sdk.responses.connect() as connection:
            raw1, typed1 = run_turn(connection, model=e.model, store=store, input=first_input)
        first = _turn_report(raw1, typed1)
        first["input"] = first_input
        half: dict[str, Any] = {"first": first}
        first_id = first.get("sdk_id")
        if first_id is not None:
            with sdk.responses.connect() as connection:
                raw2, typed2 = run_turn(
                    connection,
                    model=e.model,
                    store=store,
                    previous_response_id=first_id,
                    input=second_input,
                )
                second = _turn_report(raw2, typed2)
                second["input"] = second_input
                half["second"] = second
                if raw2.types()[-1] == "error":
                    # RWS-CLIENT-2: resend the full context, without previous_response_id.
                    full_context = [
                        {"type": "message", "role": "user", "content": first_input},
                        *first["items"],
                        {"type": "message", "role": "user", "content": second_input},
                    ]
                    raw3, typed3 = run_turn(
                        connection, model=e.model, store=store, input=full_context
                    )
                    retry = _turn_report(raw3, typed3)
                    retry["input"] = full_context
                    half["retry"] = retry
        report[name] = half
    report["wire"] = wire
    dump(report)


if __name__ == "__main__":
    main()
