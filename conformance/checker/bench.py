"""Measure the checker's throughput on a synthetic transcript (issue 8: >= 100k events/s).

``python -m conformance.checker.bench [--events N] [--repeat R]`` builds a transcript of about
N server events (text runs on two interleaved lanes, each run ~40 events, every one schema
valid), feeds it to a fresh :class:`~conformance.checker.Checker` R times and prints the best
events per second of CPU time (process time, so that other load on the machine does not
skew it), for the whole pipeline (JSON parsing, schema validation, rule tables) and
without schema validation. Timing is reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

from conformance.checker.core import Checker, CheckerConfig
from conformance.transcript import Record

__all__ = ["build_transcript", "main", "measure"]

_TEXT = "The quick brown fox jumps over the lazy dog. " * 3


def _run(rid: str, lane: str, deltas: int) -> list[dict[str, Any]]:
    item = f"msg_{rid}"
    key = {"item_id": item, "output_index": 0, "content_index": 0}
    size = max(1, len(_TEXT) // deltas)
    pieces = [_TEXT[i : i + size] for i in range(0, len(_TEXT), size)]
    part = {"type": "output_text", "text": _TEXT, "annotations": [], "logprobs": []}
    done = {"type": "message", "id": item, "role": "assistant", "status": "completed",
            "content": [part]}  # fmt: skip

    def response(status: str, output: list[Any]) -> dict[str, Any]:
        return {"id": rid, "object": "response", "created_at": 0, "status": status,
                "model": "conformance-1", "output": output}  # fmt: skip

    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response("in_progress", [])},
        {"type": "response.in_progress", "response": response("in_progress", [])},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "message", "id": item, "role": "assistant", "status": "in_progress",
                  "content": []}},
        {"type": "response.content_part.added", **key,
         "part": {"type": "output_text", "text": "", "annotations": []}},
        *({"type": "response.output_text.delta", **key, "delta": p, "logprobs": []}
          for p in pieces),
        {"type": "response.output_text.done", **key, "text": _TEXT, "logprobs": []},
        {"type": "response.content_part.done", **key, "part": part},
        {"type": "response.output_item.done", "output_index": 0, "item": done},
        {"type": "response.completed", "response": response("completed", [done])},
    ]  # fmt: skip
    for seq, event in enumerate(events):
        event["sequence_number"] = seq
        event["stream_id"] = lane
    return events


def build_transcript(events: int = 10_000, deltas: int = 32) -> list[Record]:
    """A correct transcript of about ``events`` server events on two interleaved lanes."""
    records: list[Record] = [Record(index=0, kind="open", conn="c1", principal="bench")]

    def add(direction: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        records.append(Record(index=len(records), kind="text", conn="c1", dir=direction, text=text))

    n = 0
    count = 0
    while count < events:
        runs = [_run(f"resp_{n}_{lane}", lane, deltas) for lane in ("a", "b")]
        for lane in ("a", "b"):
            add("c2s", {"type": "response.create", "model": "conformance-1", "input": "hi",
                        "stream_id": lane})  # fmt: skip
        for pair in zip(*runs, strict=True):
            for event in pair:
                add("s2c", event)
                count += 1
        n += 1
    return records


def measure(records: Sequence[Record], repeat: int = 3, validate: bool = True) -> float:
    """Best server events per second over ``repeat`` fresh checkers."""
    server_events = sum(1 for r in records if r.dir == "s2c")
    best = float("inf")
    for _ in range(repeat):
        config = CheckerConfig.make(profiles=("core", "multiplex"))
        checker = Checker(config) if validate else Checker(config, validator=_Accept(config))
        start = time.process_time()
        for record in records:
            checker.feed(record)
        report = checker.finish()
        best = min(best, time.process_time() - start)
        if report.findings:  # the synthetic transcript is correct; anything else is a bug
            raise AssertionError(f"benchmark transcript has findings: {report.findings[:3]}")
    return server_events / best


class _Accept:
    """A validator that accepts everything: isolates the rule tables' cost."""

    def __init__(self, _config: CheckerConfig) -> None:
        from conformance.schemas import server_event_types

        self._types = server_event_types()

    def is_valid(self, event: object, *, direction: Any = None) -> bool:
        return True

    def errors(self, event: object, *, direction: Any = None) -> list[Any]:
        return []

    def server_event_types(self) -> frozenset[str]:
        return self._types


def main(argv: Sequence[str] | None = None) -> int:
    """Print events per second with and without schema validation."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    records = build_transcript(args.events)
    events = sum(1 for r in records if r.dir == "s2c")
    full = measure(records, args.repeat, validate=True)
    rules_only = measure(records, args.repeat, validate=False)
    print(f"{events} server events, {len(records)} records")
    print(f"checker with schema validation: {full:,.0f} events/s")
    print(f"checker without schema validation: {rules_only:,.0f} events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
