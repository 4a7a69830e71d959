"""Giving freed memory back to the operating system once connections have ended.

CPython frees what a closed connection held - its messages, contexts and write buffers - but
glibc's allocator keeps much of it: in the heap of the thread that allocated it (every worker
thread that handled a large message has an arena of its own) and below the top of the main
heap, where one live object pins everything under it. ``malloc_trim(0)`` hands every free
page of every arena back (``madvise``; about 7 ms for a 270 MB heap). The drivers call
:func:`release_free_memory` in a worker thread a moment after a connection ends, at most once
per :data:`TRIM_DELAY`; elsewhere than on glibc it does nothing. It matters: three
connections that each sent a 15 MB input and left kept the asyncio server at 118 MiB without
it, 69 MiB with it (55 MiB before them).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

from websockets.protocol import Protocol

__all__ = ["TRIM_DELAY", "TrimScheduler", "forget_parser_failure", "release_free_memory"]

#: Seconds between a connection's end and the trim: the objects it held are freed by
#: then (the handler's frames are gone), and several connections ending together cost one.
TRIM_DELAY = 1.0


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Return the allocator's free pages to the operating system (glibc only; blocking)."""
    if _TRIM is not None:
        _TRIM(0)


class TrimScheduler:
    """Trim once, :data:`TRIM_DELAY` after a connection ends, however many end meanwhile.

    ``call_later(delay, callback)`` and ``in_thread(function)`` are the driver's: an event-loop
    timer and a way to run a blocking function off the event loop without awaiting it.
    """

    def __init__(
        self,
        call_later: Callable[[float, Callable[[], None]], object],
        in_thread: Callable[[Callable[[], None]], object],
    ) -> None:
        self._call_later = call_later
        self._in_thread = in_thread
        self._pending = False

    def connection_ended(self) -> None:
        """A connection ended: trim in a moment, unless a trim is due already."""
        if not self._pending and _TRIM is not None:
            self._pending = True
            self._call_later(TRIM_DELAY, self._trim)

    def _trim(self) -> None:
        self._pending = False
        self._in_thread(release_free_memory)


def forget_parser_failure(protocol: Protocol) -> None:
    """Drop the traceback of the exception that stopped a connection's parser, once it ended.

    websockets keeps that exception (``parser_exc``: a message above max-message-size, a bad
    frame). Its traceback holds the frames that raised it, with what they had read or inflated
    - up to max-message-size - and the protocol they parsed for, which holds the exception: a
    cycle that only a full garbage collection frees. Three compression bombs left 48 MiB so
    until the next one; without the traceback, the connection's end frees it.
    """
    exc: BaseException | None = protocol.parser_exc
    while exc is not None:
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__
