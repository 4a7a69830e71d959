"""One heap of timers for every connection of the trio server, run by one task.

trio has no timer callbacks: a sleep is a task waiting in a cancel scope, and a paused run
woken by its own sleep costs a task switch and a cancel scope per event. :class:`Timers` is
the callback timer the trio driver (:mod:`reference_impl.server`) steps runs and fires the
sessions' deadlines with.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import trio

__all__ = ["Timer", "Timers"]

# Cancelled timers are dropped from the heap once they are this many and half of it.
_COMPACT_ABOVE = 64


class Timer:
    """One entry of :class:`Timers`: a callback at a time, until cancelled."""

    __slots__ = ("callback", "cancelled", "on_error", "timers")

    def __init__(
        self,
        timers: Timers,
        callback: Callable[[], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        self.timers = timers
        self.callback = callback
        self.on_error = on_error
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback (if it has not run yet)."""
        if not self.cancelled:
            self.cancelled = True
            self.timers.cancelled += 1
            # A cancelled timer may wait in the heap until its time (a connection's age limit:
            # an hour): it must not keep its callback's connection, and all that holds, alive.
            self.callback = _nothing
            self.on_error = _ignore


def _nothing() -> None:
    """The callback of a cancelled timer."""


def _ignore(_: Exception) -> None:
    """The error handler of a cancelled timer."""


class Timers:
    """Every connection's timers in one heap, run by one task (:meth:`run`).

    trio has no timer callbacks: a sleep is a task waiting in a cancel scope, and a paused run
    woken by its own sleep costs a task switch and a cancel scope per event. Here a pause is a
    heap entry; the task sleeps until the earliest one and runs every callback due then, in
    order, without a checkpoint. A callback must not block; an exception it raises goes to its
    ``on_error`` (the connection's), never into this task.
    """

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Timer]] = []
        self.order = itertools.count()  # ties run in the order they were set
        self.scope: trio.CancelScope | None = None
        self.cancelled = 0

    def call_at(
        self, when: float, callback: Callable[[], None], on_error: Callable[[Exception], None]
    ) -> Timer:
        """Run ``callback()`` once ``trio.current_time()`` reaches ``when``."""
        timer = Timer(self, callback, on_error)
        heapq.heappush(self.heap, (when, next(self.order), timer))
        if self.scope is not None and when < self.scope.deadline:
            self.scope.deadline = when
        if self.cancelled > _COMPACT_ABOVE and self.cancelled * 2 > len(self.heap):
            self.heap = [entry for entry in self.heap if not entry[2].cancelled]
            heapq.heapify(self.heap)
            self.cancelled = 0
        return timer

    async def run(self) -> None:
        """Run the timers as they come due, until cancelled."""
        while True:
            with trio.CancelScope(deadline=self.heap[0][0] if self.heap else math.inf) as scope:
                self.scope = scope
                await trio.sleep_forever()
            self.scope = None
            now = trio.current_time()
            while self.heap and self.heap[0][0] <= now:
                timer = heapq.heappop(self.heap)[2]
                if timer.cancelled:
                    self.cancelled -= 1
                    continue
                timer.cancelled = True  # it has run: a late cancel() changes nothing
                try:
                    timer.callback()
                except Exception as exc:
                    timer.on_error(exc)
