"""Progress of a fuzzing run, reported while it runs, and the bound on its shrinking.

Against a server with a real model one session takes seconds, and Hypothesis shrinks a
failure by running many more: without a word from the fuzzer a long run looks hung.
:class:`Progress` is told when each example (a stateless example or a stateful session)
starts and ends, and passes short lines to a reporting hook - one per phase change at once
(the first failure, the end of shrinking, the final replay), and otherwise at most one per
``interval`` seconds. It also bounds shrinking: once ``shrink_seconds`` have passed since the
first failure, :meth:`Progress.started` tells the caller to skip the example (Hypothesis then
keeps the smallest failure found so far and replays it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.fuzz.profiles import BUDGETS

__all__ = ["Progress", "Reporter"]

#: The reporting hook: receives one line of progress at a time.
Reporter = Callable[[str], None]


@dataclass
class Progress:
    """Counts examples and reports what the run is doing."""

    mode: str  # "stateless" or "stateful"
    planned: int  # the examples the profile asks for (the search phase)
    report: Reporter | None = None
    interval: float = 5.0  # seconds between two routine lines
    shrink_seconds: float | None = None  # None: shrink as long as Hypothesis does
    clock: Callable[[], float] = time.monotonic
    examples: int = 0  # examples run, shrinking and the final replay included (not skipped)
    records: int = 0  # transcript records of every example so far
    failures: int = 0  # examples that failed
    smallest: int | None = None  # records of the smallest failing example so far
    # the exception of that example: reported when Hypothesis cannot replay it (a server that
    # behaves differently from one example to the next makes the replay draw differently)
    smallest_error: BaseException | None = None
    found_at: float | None = None  # when the first failure was found
    stopped: bool = False  # the shrink budget ran out
    started_at: float = field(default=0.0)
    _last: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started_at = self._last = self.clock()

    @classmethod
    def of_profile(
        cls, mode: str, profile: str, planned: int, report: Reporter | None, interval: float
    ) -> Progress:
        """The progress of a run of settings ``profile``: its shrink budget bounds shrinking."""
        return cls(
            mode, planned, report, interval=interval, shrink_seconds=BUDGETS[profile].shrink_seconds
        )

    @property
    def unit(self) -> str:
        """What one example is called."""
        return "examples" if self.mode == "stateless" else "sessions"

    def _say(self, line: str, *, now: bool) -> None:
        if self.report is None:
            return
        at = self.clock()
        if now or at - self._last >= self.interval:
            self._last = at
            self.report(f"{self.mode}: {line} ({at - self.started_at:.0f} s)")

    def started(self, final: bool) -> bool:
        """An example starts; return False when it should be skipped (shrink budget spent).

        ``final``: Hypothesis replays the smallest failure, to report it (never skipped).
        """
        if final:
            self.examples += 1
            self._say(
                f"replaying the smallest failing {self.unit[:-1]} "
                f"({self.smallest} transcript records) to write it out",
                now=True,
            )
            return True
        if (
            self.found_at is None
            or self.shrink_seconds is None
            or self.clock() - self.found_at < self.shrink_seconds
        ):
            self.examples += 1
            return True
        if not self.stopped:
            self.stopped = True
            self._say(
                f"shrinking stopped: its budget of {self.shrink_seconds:.0f} s is spent; "
                f"keeping the smallest failure found ({self.smallest} transcript records)",
                now=True,
            )
        return False

    def ended(self, failure: str | None, records: int, error: BaseException | None = None) -> None:
        """An example ended; ``failure`` is its failure message (None: it passed) and
        ``error`` the exception that carried it."""
        self.records += records
        if failure is not None:
            self.failures += 1
            if self.smallest is None or records < self.smallest:
                self.smallest = records
                self.smallest_error = error
        if failure is not None and self.found_at is None:
            self.found_at = self.clock()
            budget = (
                f" for up to {self.shrink_seconds:.0f} s" if self.shrink_seconds is not None else ""
            )
            self._say(
                f"{self.unit[:-1]} {self.examples} failed ({records} transcript records): "
                f"{_short(failure)}; shrinking it{budget}",
                now=True,
            )
        elif self.found_at is None:
            self._say(
                # Hypothesis may run more examples than the profile's count (it also counts
                # the ones it generated only to explore), so the count is not "of N".
                f"searching: {self.examples} {self.unit} passed ({self.planned} planned), "
                f"{self.records} transcript records so far",
                now=False,
            )
        else:
            self._say(
                f"shrinking: {self.examples} {self.unit} run, {self.failures} failed; smallest "
                f"failing {self.unit[:-1]} so far {self.smallest} transcript records",
                now=False,
            )


def _short(message: str, limit: int = 240) -> str:
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
