"""Peer script: the handshake and message sizes as the ``openai`` SDK exercises them.

- ``bad_key``: ``connect()`` with a key the server does not accept; the upgrade must be refused
  with 401 and no WebSocket (RWS-TRANS-2). Records how the SDK surfaces that.
- ``extras``: the SDK's own extras on the upgrade - an ``OpenAI-Beta`` header and a query
  parameter the server does not know - must be ignored (RWS-TRANS-13, RWS-TRANS-15); the SDK's
  default headers (``X-Stainless-*``, ``User-Agent``...) ride along on every upgrade anyway.
- ``big_input``: a 2 MiB input (the server accepts messages up to at least 1 MiB, RWS-TRANS-7;
  its default is 16 MiB).
- ``big_output``: a text of 1,000,000 characters in one delta, so three server messages of about
  1 MB each (delta, ``output_item.done``, ``response.completed``) - above the ``websockets``
  default 1 MiB limit once JSON-encoded with the rest (RWS-TRANS-10: the SDK accepts them).
"""

from __future__ import annotations

import hashlib
from typing import Any

from tests.peers.scripts._common import client, dump, env, output_text, run_turn, tap_wire

__all__ = ["BIG_INPUT", "BIG_OUTPUT", "main"]

BIG_INPUT = 2 * 1024 * 1024
# The reference model refuses directives asking for more than 1,000,000 characters.
BIG_OUTPUT = 1_000_000


def _bad_key(e: Any) -> dict[str, Any]:
    bad = client(type(e)(base_url=e.base_url, api_key=e.api_key + "-wrong", model=e.model))
    try:
        with bad.responses.connect() as connection:
            connection.response.create(model=e.model, input="hello")
            connection.recv()
    except Exception as exc:
        response = getattr(exc, "response", None)
        return {
            "raised": type(exc).__name__,
            "module": type(exc).__module__,
            "status": getattr(exc, "status_code", None)
            or getattr(response, "status_code", None)
            or getattr(getattr(exc, "response", None), "status", None),
        }
    return {"raised": None}


def main() -> None:
    """Run the three handshake cases and print what was seen."""
    e = env()
    wire = tap_wire()
    report: dict[str, Any] = {"bad_key": _bad_key(e)}
    sdk = client(e)
    extras_start = len(wire)
    with sdk.responses.connect(
        extra_headers={"OpenAI-Beta": "responses_websockets=2026-02-06"},
        extra_query={"peer-test-unknown": "1"},
    ) as connection:
        raw, _ = run_turn(connection, model=e.model, store=False, input="hello")
        report["extras"] = {"types": raw.types(), "text": output_text(raw.items_done())}
    # Only the small case's wire: the big messages would bloat the report.
    report["wire"] = wire[extras_start:]
    with sdk.responses.connect() as connection:
        raw, _ = run_turn(connection, model=e.model, store=False, input="x" * BIG_INPUT)
        terminal = raw.terminal() or {}
        report["big_input"] = {
            "length": BIG_INPUT,
            "types": raw.types(),
            "input_tokens": ((terminal.get("response") or {}).get("usage") or {}).get(
                "input_tokens"
            ),
        }
        raw, _ = run_turn(
            connection, model=e.model, store=False, input=f"rws:text length={BIG_OUTPUT}"
        )
        deltas = [ev["delta"] for ev in raw.events if ev["type"] == "response.output_text.delta"]
        report["big_output"] = {
            "length": BIG_OUTPUT,
            "types": [t for t in raw.types() if t != "response.output_text.delta"],
            "delta_lengths": [len(d) for d in deltas],
            "text_sha256": hashlib.sha256(
                output_text(raw.items_done()).encode("utf-8")
            ).hexdigest(),
        }
    dump(report)


if __name__ == "__main__":
    main()
