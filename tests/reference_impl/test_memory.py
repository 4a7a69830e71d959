"""Memory a closed connection held is let go: the trio timer heap keeps no cancelled callback's
connection alive, and freed memory is handed back to the system once after connections end."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

from reference_impl import memory
from reference_impl.memory import TRIM_DELAY, TrimScheduler, release_free_memory
from reference_impl.trio_timers import Timers

__all__: list[str] = []


class _Connection:
    """Stands for what a timer's callback holds: a connection's tasks and session."""

    def tick(self) -> None:
        raise AssertionError("a cancelled timer ran")

    def fail(self, exc: Exception) -> None:
        raise AssertionError("a cancelled timer failed") from exc


def test_a_cancelled_timer_lets_its_connection_go() -> None:
    """A connection's age timer is due in an hour and stays in the heap until then once
    cancelled: it must not keep the connection (and its cache, its contexts) alive."""
    timers = Timers()
    connection = _Connection()
    gone = weakref.ref(connection)
    timer = timers.call_at(3600.0, connection.tick, connection.fail)
    timer.cancel()
    del connection
    gc.collect()
    assert gone() is None
    assert len(timers.heap) == 1  # still waiting, holding nothing


def test_trims_are_coalesced_and_run_off_the_event_loop() -> None:
    """Connections that end together cost one trim, TRIM_DELAY later, in a thread; the next
    end schedules the next one."""
    later: list[tuple[float, Callable[[], None]]] = []
    threaded: list[Callable[[], None]] = []
    trims = TrimScheduler(lambda delay, cb: later.append((delay, cb)), threaded.append)
    trims.connection_ended()
    trims.connection_ended()
    if memory._TRIM is None:  # not glibc: nothing to trim, nothing scheduled
        assert later == []
        return
    assert [delay for delay, _ in later] == [TRIM_DELAY]
    later[0][1]()
    assert threaded == [release_free_memory]
    threaded[0]()  # returns the allocator's free pages; must not raise
    trims.connection_ended()
    assert len(later) == 2
