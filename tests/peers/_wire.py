"""Checks on the wire records a peer script reports (``_common.tap_wire`` in the scripts).

Every message a real SDK sent must validate against the project's client-event schemas (if it
does not, either the SDK breaks the protocol or the schema is stricter than the deployed
protocol, and both are findings), and every message the server sent must validate against the
server-event schemas (RWS-EVENT-1).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from conformance import schemas

__all__ = ["closes", "received", "schema_problems", "sent"]


def sent(wire: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The client-to-server events, in order."""
    return [record["event"] for record in wire if record["dir"] == "c2s" and "event" in record]


def received(wire: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The server-to-client events, in order."""
    return [record["event"] for record in wire if record["dir"] == "s2c" and "event" in record]


def closes(wire: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The close records (``{"conn", "dir", "close": {"code", "reason"}}``), in order."""
    return [record for record in wire if "close" in record]


def schema_problems(wire: Sequence[dict[str, Any]]) -> list[str]:
    """One line per message that is not JSON or does not validate against its schema."""
    problems: list[str] = []
    for record in wire:
        if "close" in record:
            continue
        if "event" not in record:
            problems.append(f"{record['dir']}: not JSON: {record.get('text', '')[:200]}")
            continue
        event = record["event"]
        direction: schemas.Direction = "client" if record["dir"] == "c2s" else "server"
        for error in schemas.errors(event, direction=direction)[:3]:
            summary = json.dumps(event, sort_keys=True)[:300]
            problems.append(f"{record['dir']} {event.get('type')!r}: {error} in {summary}")
    return problems
