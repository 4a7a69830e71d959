"""Counting what came back, and pacing a slow reader (sans-I/O helpers of the probes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.stress.messages import TERMINAL_EVENTS
from conformance.stress.wire import Received

__all__ = ["Tally", "read_allowance"]


@dataclass
class Tally:
    """What a connection received: counts by kind, never the bodies."""

    messages: int = 0
    bytes: int = 0  # payload bytes of the messages (after decompression)
    largest: int = 0
    created: int = 0
    terminal: int = 0
    # Outcome errors (no sequence_number: a request's or a frame's answer) by code.
    errors: Counter[str] = field(default_factory=Counter)
    # Errors that belong to a run (its response.failed follows).
    run_errors: int = 0
    # Other events by type, for the report (bounded: event types are few).
    types: Counter[str] = field(default_factory=Counter)
    close: Received | None = None
    first_at: float | None = None
    last_at: float | None = None

    def add(self, message: Received) -> None:
        """Count one message."""
        if message.kind == "close":
            self.close = message
            return
        self.messages += 1
        self.bytes += message.size
        self.largest = max(self.largest, message.size)
        self.first_at = message.at if self.first_at is None else self.first_at
        self.last_at = message.at
        etype = message.event_type
        if etype == "response.created":
            self.created += 1
        elif etype in TERMINAL_EVENTS:
            self.terminal += 1
        elif etype == "error":
            if message.in_run:
                self.run_errors += 1
            else:
                self.errors[message.error_code or "(no code)"] += 1
        if len(self.types) < 200 or etype in self.types:
            self.types[etype or f"({message.kind}, not an event)"] += 1

    def add_all(self, messages: Iterable[Received]) -> None:
        """Count several messages."""
        for message in messages:
            self.add(message)

    @property
    def error_count(self) -> int:
        """Outcome errors, every code."""
        return sum(self.errors.values())

    def describe_errors(self) -> str:
        """``"3 rate_limit_exceeded, 1 invalid_json"`` (``"none"`` without errors)."""
        if not self.errors:
            return "none"
        return ", ".join(f"{n} {code}" for code, n in self.errors.most_common())

    def describe(self) -> str:
        """One line for a report."""
        parts = [f"{self.messages:,} messages ({self.bytes / 1e6:,.1f} MB)"]
        if self.created or self.terminal:
            parts.append(f"{self.created} response.created, {self.terminal} terminal events")
        if self.errors:
            parts.append(f"errors: {self.describe_errors()}")
        if self.close is not None:
            parts.append(f"the server closed with {self.close.describe()}")
        return "; ".join(parts)


def read_allowance(
    rate: float, elapsed: float, read_so_far: int, cap: int, least: int = 16384
) -> tuple[int, float]:
    """How much a reader limited to ``rate`` bytes a second may read now, after reading
    ``read_so_far`` bytes in ``elapsed`` seconds: ``(bytes, 0)``, or ``(0, seconds to wait)``
    until ``least`` bytes (at most ``cap``) are allowed, so that reads are not tiny.

    The budget is the whole run's (``rate * elapsed``), not a window's: the mean rate never
    exceeds ``rate``, however the reads fall.
    """
    budget = rate * elapsed - read_so_far
    need = min(cap, least)
    if budget >= need:
        return min(cap, int(budget)), 0.0
    return 0, (need - budget) / rate
